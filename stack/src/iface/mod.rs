//! The IPv4 interface layer: addresses, ARP, ICMP, UDP sockets and drop counters.
