/*
 * fuzz_xlate_responses.c: the Responses-client translation on arbitrary
 * bytes: its chat-chunk stream parser above all, and its request, answer
 * and error translations (tests/fuzz/xlate_fuzz.h says how). Byte 1's
 * second bit puts a Messages provider behind it (the chat translation in
 * between), so both of its stream parsers run.
 */
#include "xlate_fuzz.h"

static const char req[] =
	"{\"model\":\"codex\",\"stream\":true,\"instructions\":\"be brief\",\"input\":\"hi\","
	"\"tools\":[{\"type\":\"function\",\"name\":\"shell\","
	"\"parameters\":{\"type\":\"object\"}}],"
	"\"reasoning\":{\"effort\":\"low\"}}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{

	return xf_main(size > 1 && (data[1] & 2) ? XLATE_RESPONSES_VIA_MESSAGES :
	    XLATE_RESPONSES_VIA_CHAT, req, data, size);
}
