/* ecn.c - see ecn.h. IPv4 only, as the tunnel carries only IPv4 so far. */
#include "ecn.h"

uint8_t ecn_encap(const uint8_t *ip, size_t len)
{
	if (len < 20 || ip[0] >> 4 != 4)
		return ECN_NOT_ECT;
	return ip[1] & 3;
}

bool ecn_decap(uint8_t outer, uint8_t *ip, size_t len)
{
	if ((outer & 3) != ECN_CE)
		return true; /* RFC 6040: ECT(0)/ECT(1)/Not-ECT outside change nothing */
	return ip_mark_ce(ip, len);
}

bool ip_mark_ce(uint8_t *ip, size_t len)
{
	if (len < 20 || ip[0] >> 4 != 4)
		return false;
	uint8_t ecn = ip[1] & 3;
	if (ecn == 0)
		return false; /* Not-ECT: the sender would not understand a mark */
	if (ecn == 3)
		return true;  /* already CE */
	/* RFC 1624 incremental update of the header checksum. */
	uint16_t old_word = (uint16_t)(ip[0] << 8 | ip[1]);
	ip[1] |= 3;
	uint16_t new_word = (uint16_t)(ip[0] << 8 | ip[1]);
	uint32_t sum = (uint16_t)~(ip[10] << 8 | ip[11]);
	sum += (uint16_t)~old_word;
	sum += new_word;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t csum = (uint16_t)~sum;
	ip[10] = (uint8_t)(csum >> 8);
	ip[11] = (uint8_t)csum;
	return true;
}

