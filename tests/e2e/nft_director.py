#!/usr/bin/env python3
"""Translate an `ipvsadm -S -n` rules file into an nftables DNAT ruleset.

This is the "kernel" stand-in director used ONLY to validate the e2e harness
(topology, servers, checks) without the lvs-rs binaries, and as the peer in
scripts/bench-netns.sh. NAT (-m) only. Schedulers: rr/wrr become
`numgen inc mod W` over the destinations repeated by weight (period W = sum of
weights, so any W consecutive new connections hit each server `weight` times);
a persistent service (-p) becomes `jhash <saddr> mod W` (same client address,
same server). Weight-0 servers get nothing. Output goes to stdout; it replaces
the table `inet TABLE` atomically, so a reload keeps the conntrack entries of
running connections (like a SIGHUP of the real director).
"""
import sys

TABLE = "lvse2e"


def split_hostport(s):
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
        return host, int(port), 6
    host, _, port = s.rpartition(":")
    return host, int(port), 4


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: nft_director.py RULES_FILE")
    services = {}  # (proto, vip, vport, fam) -> {"persist": bool, "dests": [(ip, port, w)]}
    order = []
    with open(sys.argv[1], encoding="ascii") as f:
        for lineno, line in enumerate(f, 1):
            tok = line.split()
            if not tok or tok[0].startswith("#"):
                continue
            proto = None
            key = None
            persist = False
            rs = None
            weight = 1
            fwd = "-g"
            i = 1
            while i < len(tok):
                t = tok[i]
                if t in ("-t", "-u"):
                    proto = "tcp" if t == "-t" else "udp"
                    key = split_hostport(tok[i + 1])
                    i += 2
                elif t == "-s":
                    i += 2
                elif t == "-p":
                    persist = True
                    i += 2 if i + 1 < len(tok) and tok[i + 1].isdigit() else 1
                elif t == "-r":
                    rs = split_hostport(tok[i + 1])
                    i += 2
                elif t == "-w":
                    weight = int(tok[i + 1])
                    i += 2
                elif t in ("-m", "-g", "-i"):
                    fwd = t
                    i += 1
                else:
                    sys.exit("%s:%d: unsupported token %r" % (sys.argv[1], lineno, t))
            if proto is None:
                sys.exit("%s:%d: no -t/-u" % (sys.argv[1], lineno))
            skey = (proto,) + key
            if tok[0] == "-A":
                services[skey] = {"persist": persist, "dests": []}
                order.append(skey)
            elif tok[0] == "-a":
                if fwd != "-m":
                    sys.exit("%s:%d: the kernel stand-in does NAT (-m) only" % (sys.argv[1], lineno))
                services[skey]["dests"].append((rs[0], rs[1], weight))
            else:
                sys.exit("%s:%d: unsupported command %r" % (sys.argv[1], lineno, tok[0]))

    out = ["table inet %s {}" % TABLE, "delete table inet %s" % TABLE,
           "table inet %s {" % TABLE,
           "  chain pre {",
           "    type nat hook prerouting priority dstnat; policy accept;"]
    for skey in order:
        proto, vip, vport, fam = skey
        svc = services[skey]
        slots = []
        for ip, port, w in svc["dests"]:
            slots.extend([(ip, port)] * w)
        ipkw = "ip" if fam == 4 else "ip6"
        match = "%s daddr %s %s dport %d" % (ipkw, vip, proto, vport)
        if not slots:
            out.append("    %s drop" % match)
            continue
        sel = ("jhash %s saddr mod %d" % (ipkw, len(slots)) if svc["persist"]
               else "numgen inc mod %d" % len(slots))
        elems = ", ".join("%d : %s . %d" % (n, ip, port) for n, (ip, port) in enumerate(slots))
        out.append("    %s dnat %s to %s map { %s }" % (match, ipkw, sel, elems))
    out += ["  }", "}"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
