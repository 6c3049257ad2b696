/* notrack_linux.c - see notrack.h. */
#include "notrack.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "nft.h"

int notrack_start(struct notrack *t, const char *tun_name, uint16_t port)
{
	char cmd[768];
	memset(t, 0, sizeof(*t));
	snprintf(t->table, sizeof(t->table), "vpngw_%s_notrack", tun_name);
	nft_delete_table("inet", t->table, true);
	snprintf(cmd, sizeof(cmd),
		 "table inet %s {\n"
		 "  chain prerouting {\n"
		 "    type filter hook prerouting priority raw; policy accept;\n"
		 "    udp dport %u counter notrack\n"
		 "  }\n"
		 "  chain output {\n"
		 "    type filter hook output priority raw; policy accept;\n"
		 "    udp sport %u counter notrack\n"
		 "  }\n"
		 "}\n",
		 t->table, port, port);
	if (nft_run(cmd, false) != 0)
		return -1;
	t->active = true;
	LOGI("msg=\"connection tracking bypassed for the tunnel's port\" port=%u nft_table=%s", port, t->table);
	return 0;
}

void notrack_stop(struct notrack *t)
{
	if (!t->active)
		return;
	nft_delete_table("inet", t->table, false);
	t->active = false;
}
