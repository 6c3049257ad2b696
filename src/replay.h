/* replay.h - sliding window over received sequence numbers.
 *
 * Accepts each seq at most once, and only if it is newer than
 * (highest seen - REPLAY_WINDOW). Packets reordered by up to the window
 * still get through; duplicates and very old packets do not. Call
 * replay_check() only after the packet authenticated, so forged packets
 * cannot move the window. */
#ifndef VPNGW_REPLAY_H
#define VPNGW_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define REPLAY_WORDS 64                         /* ring of 64-bit words */
#define REPLAY_BITS (REPLAY_WORDS * 64)         /* 4096 */
#define REPLAY_WINDOW (REPLAY_BITS - 64)        /* 4032 always usable */

struct replay {
	uint64_t next;  /* one past the highest seq accepted; 0 = none yet */
	uint64_t bits[REPLAY_WORDS];
};

void replay_init(struct replay *r);
/* True when seq is fresh; marks it seen. */
bool replay_check(struct replay *r, uint32_t seq);

#endif
