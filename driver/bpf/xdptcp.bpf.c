// SPDX-License-Identifier: MIT OR Apache-2.0
//
// xdptcp's XDP program: steer to the AF_XDP socket of the receiving queue only the frames
// that belong to the stack, and pass everything else to the kernel, which keeps serving SSH,
// IPv6 neighbour discovery, other addresses and so on.
//
// Ours are:
//   - IPv4 packets whose destination is the stack's address;
//   - ARP packets (Ethernet/IPv4 ARP) whose target protocol address is the stack's address;
//   - IPv6 packets whose destination is one of the stack's IPv6 addresses (`xdptcp_ipv6`,
//     written by the loader), and Neighbor Discovery for them: a neighbour solicitation or
//     advertisement sent to a group (solicited-node, all-nodes) whose target is one of them.
//     Everything else IPv6 (the kernel's addresses, router advertisements, MLD) is passed.
// The address is written by the loader into `xdptcp_config` (network byte order); while it
// is zero nothing is redirected. VLAN-tagged frames are passed: the stack is not on a VLAN.
//
// The socket is looked up in `xsks_map` by the queue the frame arrived on; with no socket on
// that queue bpf_redirect_map returns its flags argument, XDP_PASS, so the frame goes to the
// kernel instead of being dropped.
//
// Self-contained on purpose: no libbpf or kernel headers are needed, only clang with the BPF
// target. The few ABI constants below are stable kernel UAPI (include/uapi/linux/bpf.h).

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

enum xdp_action { XDP_ABORTED = 0, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT };

enum {
    BPF_MAP_TYPE_HASH = 1,
    BPF_MAP_TYPE_ARRAY = 2,
    BPF_MAP_TYPE_XSKMAP = 17,
};

struct xdp_md {
    __u32 data;
    __u32 data_end;
    __u32 data_meta;
    __u32 ingress_ifindex;
    __u32 rx_queue_index;
    __u32 egress_ifindex;
};

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

// Helper IDs from enum bpf_func_id.
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)51;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define be16(x) __builtin_bswap16(x)
#else
#define be16(x) (x)
#endif

#define MAX_QUEUES 64

struct config {
    __u32 ipv4_addr; // network byte order; 0 = redirect nothing
    __u32 reserved;
};

// Counters read by the loader (index: STAT_*). Shared across CPUs, so updated atomically.
enum { STAT_IPV4 = 0, STAT_ARP, STAT_PASS, STAT_IPV6, STAT_NDP, STAT_COUNT };

#define MAX_IPV6_ADDRS 64

// An IPv6 address as the hash key of `xdptcp_ipv6`.
struct ipv6_key {
    __u8 addr[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} xsks_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct config);
} xdptcp_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, STAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} xdptcp_stats SEC(".maps");

// The stack's IPv6 addresses (the value is unused); empty: no IPv6 is redirected.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_IPV6_ADDRS);
    __type(key, struct ipv6_key);
    __type(value, __u8);
} xdptcp_ipv6 SEC(".maps");

static __attribute__((always_inline)) void count(__u32 which)
{
    __u64 *c = bpf_map_lookup_elem(&xdptcp_stats, &which);
    if (c)
        __sync_fetch_and_add(c, 1);
}

static __attribute__((always_inline)) int ipv6_ours(const __u8 *addr)
{
    struct ipv6_key key;
    __builtin_memcpy(key.addr, addr, 16);
    return bpf_map_lookup_elem(&xdptcp_ipv6, &key) != 0;
}

// Whether the IPv6 packet at `ip6` (fixed header in bounds, `end` past the frame) is the
// stack's: to one of its addresses, or Neighbor Discovery (RFC 4861 §4.3, §4.4: ICMPv6 type
// 135/136, no extension headers, target at offset 8 of the message) about one sent to a group.
static __attribute__((always_inline)) int ipv6_for_stack(__u8 *ip6, void *end, __u32 *stat)
{
    __u8 *icmp = ip6 + 40;
    if (ipv6_ours(ip6 + 24)) {
        *stat = STAT_IPV6;
        return 1;
    }
    if (ip6[24] != 0xff || ip6[6] != 58)
        return 0;
    if ((void *)(icmp + 24) > end)
        return 0;
    if (icmp[0] != 135 && icmp[0] != 136)
        return 0;
    *stat = STAT_NDP;
    return ipv6_ours(icmp + 8);
}

// "xdp.frags": the program declares it handles frames in several buffers (multi-buffer XDP,
// for jumbo MTUs), which a driver requires before it runs XDP at an MTU above a page. It
// reads only headers (at most 78 bytes), always in the first buffer, and redirects the whole frame;
// AF_XDP sockets bound with XDP_USE_SG receive it as a descriptor chain.
SEC("xdp.frags")
int xdptcp_redirect(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    __u32 key = 0;
    struct config *cfg = bpf_map_lookup_elem(&xdptcp_config, &key);
    __u8 *eth = data;
    __u16 ethertype;
    __u32 target;

    if (!cfg || cfg->ipv4_addr == 0)
        goto pass;
    if (data + 14 > end)
        goto pass;
    __builtin_memcpy(&ethertype, eth + 12, 2);

    if (ethertype == be16(0x0800)) {
        // IPv4: the destination address is at offset 16 of the header.
        if (data + 14 + 20 > end)
            goto pass;
        __builtin_memcpy(&target, eth + 14 + 16, 4);
        if (target != cfg->ipv4_addr)
            goto pass;
        count(STAT_IPV4);
        return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
    }
    if (ethertype == be16(0x0806)) {
        // ARP (RFC 826) for Ethernet/IPv4: htype 1, ptype 0x0800, hlen 6, plen 4; the
        // target protocol address is at offset 24.
        __u8 *arp = eth + 14;
        __u16 htype, ptype;
        if (data + 14 + 28 > end)
            goto pass;
        __builtin_memcpy(&htype, arp, 2);
        __builtin_memcpy(&ptype, arp + 2, 2);
        if (htype != be16(1) || ptype != be16(0x0800) || arp[4] != 6 || arp[5] != 4)
            goto pass;
        __builtin_memcpy(&target, arp + 24, 4);
        if (target != cfg->ipv4_addr)
            goto pass;
        count(STAT_ARP);
        return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
    }
    if (ethertype == be16(0x86DD)) {
        __u32 stat = STAT_IPV6;
        if (data + 14 + 40 > end)
            goto pass;
        if (!ipv6_for_stack(eth + 14, end, &stat))
            goto pass;
        count(stat);
        return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
    }
pass:
    count(STAT_PASS);
    return XDP_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
