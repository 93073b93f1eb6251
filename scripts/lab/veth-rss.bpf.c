// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * RSS for a veth pair, as a real NIC's receive side does it: a tc egress classifier on the
 * kernel-side veth that computes the Toeplitz hash of each IPv4 TCP or UDP frame's 4-tuple (as the
 * stack's side receives it: source address, destination address, source port, destination
 * port) with the Microsoft key, looks the queue up in a 128-entry indirection table holding
 * i % QUEUES (the defaults of xdptcp_driver::rss::Rss::microsoft), and sends the frame out
 * on the TX queue of that number; veth delivers a frame on the RX queue of the TX queue it
 * left by. Without it the kernel picks a TX queue per socket at random, so replies to the
 * stack's active opens land on any queue and no choice of source port can bring them home.
 *
 * How the queue is chosen (direct action, this kernel has no skbedit): a queue_mapping of
 * q + 1 set at tc egress reads to the kernel's TX queue choice (skb_tx_hash) as "received
 * on queue q", which it keeps for the reply direction; the socket then caches that queue,
 * the same for every frame of its 4-tuple. UDP is hashed over its ports too, as a NIC told
 * `ethtool -N IF rx-flow-hash udp4 sdfn` does, so each UDP flow (an rudp connection) has a
 * queue known in advance. IPv6 TCP and UDP with no extension header are hashed over their
 * 36-byte 4-tuple (source address, destination address, source port, destination port), as
 * NICs hash `tcp6` (xdptcp_driver::rss::Rss::hash6). Frames that are not unfragmented IPv4
 * or extension-free IPv6 TCP or UDP are left to the kernel's own choice.
 */
/* Self-contained, like the XDP program: no libbpf headers needed to build it. */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

/* The leading fields of the kernel's struct __sk_buff (the verifier checks offsets). */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
};

#define SEC(name) __attribute__((section(name), used))
/* Helper id from enum bpf_func_id. */
static long (*bpf_skb_load_bytes)(const void *skb, __u32 off, void *to, __u32 len) = (void *)26;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define be16(x) __builtin_bswap16(x)
#else
#define be16(x) (x)
#endif
#define ETH_HLEN 14
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

#ifndef QUEUES
#error "compile with -DQUEUES=n"
#endif
#define TC_ACT_OK 0

#ifdef SYMMETRIC_KEY
/* -DSYMMETRIC_KEY: 6d 5a repeated (xdptcp_driver::rss::SYMMETRIC_KEY), which hashes a flow
 * alike in both directions, so xdptcp peers on N queues each agree on its queue. */
static const __u8 key[40] = {
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};
#else
static const __u8 key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
	0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
	0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};
#endif

/* The hash input of an IPv4 frame (12 bytes) or 0 if it is not hashed over ports. */
static __attribute__((always_inline)) int input4(struct __sk_buff *skb, __u8 *input)
{
	__u8 vihl, proto;
	__u16 frag;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &vihl, 1) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + 6, &frag, 2) < 0)
		return 0;
	/* Only unfragmented TCP and UDP are hashed over ports. */
	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || (be16(frag) & 0x3fff) != 0)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 12, input, 8) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + (vihl & 0x0f) * 4, input + 8, 4) < 0)
		return 0;
	return 12;
}

/* The hash input of an IPv6 frame (36 bytes) or 0 if it is not hashed over ports: TCP or
 * UDP right after the fixed 40-byte header (no extension header, so no fragment either). */
static __attribute__((always_inline)) int input6(struct __sk_buff *skb, __u8 *input)
{
	__u8 next;

	if (bpf_skb_load_bytes(skb, ETH_HLEN + 6, &next, 1) < 0)
		return 0;
	if (next != IPPROTO_TCP && next != IPPROTO_UDP)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 8, input, 32) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + 40, input + 32, 4) < 0)
		return 0;
	return 36;
}

SEC("classifier")
int veth_rss(struct __sk_buff *skb)
{
	__u8 input[36];
	__u32 hash = 0;
	int len;

	if (skb->protocol == be16(0x0800))
		len = input4(skb, input);
	else if (skb->protocol == be16(0x86dd))
		len = input6(skb, input);
	else
		return TC_ACT_OK;
	if (len == 0)
		return TC_ACT_OK;
	for (int bit = 0; bit < 288; bit++) {
		if (bit >= len * 8)
			break;
		int i = bit >> 3, b = bit & 7;
		/* The 32 key bits starting at input bit `bit`, from the 40 bits at key[i..i+5). */
		__u64 window = ((__u64)key[i] << 32) | ((__u64)key[i + 1] << 24) |
			       ((__u64)key[i + 2] << 16) | ((__u64)key[i + 3] << 8) | key[i + 4];
		__u32 set = (input[i] >> (7 - b)) & 1;

		hash ^= (__u32)(window >> (8 - b)) & -set;
	}
	skb->queue_mapping = (hash & 127) % QUEUES + 1;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
