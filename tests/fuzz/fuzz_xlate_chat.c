/*
 * fuzz_xlate_chat.c: the chat-client translation (Messages provider) on
 * arbitrary bytes: its Messages-event stream parser above all, and its
 * request, answer and error translations (tests/fuzz/xlate_fuzz.h says how).
 */
#include "xlate_fuzz.h"

static const char req[] =
	"{\"model\":\"gpt\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
	"\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{

	return xf_main(XLATE_CHAT_VIA_MESSAGES, req, data, size);
}
