/* nft.h - runs nftables commands through libnftables, for the modules that
 * keep tables of their own (nat_linux.c, notrack_linux.c). */
#ifndef VPNGW_NFT_H
#define VPNGW_NFT_H

#include <stdbool.h>
#include <stddef.h>

/* Runs cmd (nft syntax). 0, or -1; unless quiet, nftables' error is logged
 * on one line. */
int nft_run(const char *cmd, bool quiet);
/* Deletes table `table` of family `family` ("ip", "ip6", "inet"); quiet
 * where it may well not exist (clearing what a crashed run left). */
int nft_delete_table(const char *family, const char *table, bool quiet);
/* The first table of `family` whose name starts with prefix, into name
 * (len bytes): 1; 0 when there is none; -1 when the tables cannot be
 * listed. */
int nft_find_table(const char *family, const char *prefix, char *name, size_t len);

#endif
