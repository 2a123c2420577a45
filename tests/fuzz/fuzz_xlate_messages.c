/*
 * fuzz_xlate_messages.c: the Messages-client translation (chat provider) on
 * arbitrary bytes: its chat-chunk stream parser above all, and its request,
 * answer and error translations (tests/fuzz/xlate_fuzz.h says how).
 */
#include "xlate_fuzz.h"

static const char req[] =
	"{\"model\":\"claude\",\"max_tokens\":100,\"stream\":true,"
	"\"tools\":[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\"}}],"
	"\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{

	return xf_main(XLATE_MESSAGES_VIA_CHAT, req, data, size);
}
