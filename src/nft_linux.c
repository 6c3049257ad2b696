/* nft_linux.c - see nft.h. */
#include "nft.h"

#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

int nft_run(const char *cmd, bool quiet)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		LOGE("msg=\"nftables: cannot create a context\"");
		return -1;
	}
	nft_ctx_buffer_error(ctx);
	int rc = nft_run_cmd_from_buffer(ctx, cmd);
	const char *err = nft_ctx_get_error_buffer(ctx);
	if (rc != 0 && !quiet) {
		char one[512];
		snprintf(one, sizeof(one), "%s", err ? err : "");
		for (char *p = one; *p; p++)
			if (*p == '\n' || *p == '"')
				*p = ' ';
		LOGE("msg=\"nftables refused our rules\" error=\"%s\"", one);
	}
	nft_ctx_free(ctx);
	return rc == 0 ? 0 : -1;
}

int nft_find_table(const char *family, const char *prefix, char *name, size_t len)
{
	char cmd[64];
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx)
		return -1;
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	snprintf(cmd, sizeof(cmd), "list tables %s\n", family);
	int found = -1;
	if (nft_run_cmd_from_buffer(ctx, cmd) == 0) {
		/* one line per table: "table FAMILY NAME" */
		const char *out = nft_ctx_get_output_buffer(ctx);
		char fam[16], tab[64];
		found = 0;
		for (const char *line = out; line && *line && !found; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
			if (sscanf(line, "table %15s %63s", fam, tab) == 2 && !strncmp(tab, prefix, strlen(prefix))) {
				snprintf(name, len, "%s", tab);
				found = 1;
			}
	}
	nft_ctx_free(ctx);
	return found;
}

int nft_delete_table(const char *family, const char *table, bool quiet)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "delete table %s %s\n", family, table);
	return nft_run(cmd, quiet);
}
