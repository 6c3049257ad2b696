/* ecn.c - see ecn.h. */
#include "ecn.h"

#define ECN_ECT1 1
#define ECN_ECT0 2

/* The ECN field of an IPv4 or IPv6 packet, or -1 when it is neither (or
 * too short to say). IPv6 keeps it in the traffic class, bits 4-5 of the
 * second byte. */
static int ecn_get(const uint8_t *ip, size_t len)
{
	if (len >= 20 && ip[0] >> 4 == 4)
		return ip[1] & 3;
	if (len >= 40 && ip[0] >> 4 == 6)
		return ip[1] >> 4 & 3;
	return -1;
}

/* Sets the field ecn_get found, keeping an IPv4 header checksum right
 * (RFC 1624 incremental update; IPv6 has none). */
static void ecn_set(uint8_t *ip, uint8_t ecn)
{
	if (ip[0] >> 4 == 6) {
		ip[1] = (uint8_t)((ip[1] & ~0x30) | ecn << 4);
		return;
	}
	uint16_t old_word = (uint16_t)(ip[0] << 8 | ip[1]);
	ip[1] = (uint8_t)((ip[1] & ~3) | ecn);
	uint16_t new_word = (uint16_t)(ip[0] << 8 | ip[1]);
	uint32_t sum = (uint16_t)~(ip[10] << 8 | ip[11]);
	sum += (uint16_t)~old_word;
	sum += new_word;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t csum = (uint16_t)~sum;
	ip[10] = (uint8_t)(csum >> 8);
	ip[11] = (uint8_t)csum;
}

uint8_t ecn_encap(const uint8_t *ip, size_t len)
{
	int ecn = ecn_get(ip, len);
	return ecn < 0 ? ECN_NOT_ECT : (uint8_t)ecn;
}

bool ecn_decap(uint8_t outer, uint8_t *ip, size_t len)
{
	outer &= 3;
	if (outer == ECN_CE)
		return ip_mark_ce(ip, len);
	/* RFC 6040 figure 4: the only other change is an ECT(1) outside an
	 * ECT(0) packet, which comes out ECT(1). */
	if (outer == ECN_ECT1 && ecn_get(ip, len) == ECN_ECT0)
		ecn_set(ip, ECN_ECT1);
	return true;
}

bool ip_mark_ce(uint8_t *ip, size_t len)
{
	int ecn = ecn_get(ip, len);
	if (ecn <= ECN_NOT_ECT)
		return false; /* Not-ECT (or not IP): the sender would not understand a mark */
	if (ecn != ECN_CE)
		ecn_set(ip, ECN_CE);
	return true;
}
