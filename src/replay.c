/* replay.c - the bitmap slides a word at a time (as RFC 6479 describes):
 * moving forward clears whole words, never shifts bits. */
#include "replay.h"

#include <string.h>

void replay_init(struct replay *r)
{
	memset(r, 0, sizeof(*r));
}

bool replay_check(struct replay *r, uint32_t seq32)
{
	uint64_t seq = seq32;
	uint64_t word = seq / 64;

	if (seq + REPLAY_WINDOW < r->next)
		return false;
	if (seq >= r->next) {
		uint64_t top = r->next ? (r->next - 1) / 64 : 0;
		uint64_t advance = r->next ? word - top : word + 1;
		if (advance > REPLAY_WORDS)
			advance = REPLAY_WORDS;
		for (uint64_t i = 1; i <= advance; i++)
			r->bits[(top + i) % REPLAY_WORDS] = 0;
		if (!r->next)
			r->bits[word % REPLAY_WORDS] = 0;
		r->next = seq + 1;
	}
	uint64_t *w = &r->bits[word % REPLAY_WORDS];
	uint64_t bit = 1ull << (seq % 64);
	if (*w & bit)
		return false;
	*w |= bit;
	return true;
}
