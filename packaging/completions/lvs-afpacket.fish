complete -c lvs-afpacket -l rules -d 'Rules in `ipvsadm -S -n` format' -r -F
complete -c lvs-afpacket -l keepalived-conf -d 'Take services, real servers and health checks from the LVS part of a keepalived.conf (virtual_server, virtual_server_group) instead of --rules; other blocks are skipped with a note; SIGHUP re-reads it' -r -F
complete -c lvs-afpacket -l mac -d 'The director\'s own MAC address (default: the interface\'s; on a TAP, the TAP\'s with its last bit flipped)' -r
complete -c lvs-afpacket -l addr -d 'An address of the director, `[IFACE=]CIDR` (repeatable), added to what the kernel has on that interface. `IFACE=` may be left out when one interface is served' -r
complete -c lvs-afpacket -l gateway -d 'Default gateway `[IFACE=]IP` (repeatable: one per family), added to the kernel\'s routes' -r
complete -c lvs-afpacket -l neighbor -d 'Static neighbour entry (repeatable); wins over what the kernel or the wire says' -r
complete -c lvs-afpacket -l check -d 'Health check kind' -r -f -a "tcp\t'TCP connect to the real server\'s port'
http\t'HTTP GET, expecting a status code'
none\t'No checks: every real server is up'"
complete -c lvs-afpacket -l check-interval-ms -d 'Milliseconds between two checks of one real server' -r
complete -c lvs-afpacket -l check-timeout-ms -d 'Milliseconds a check may take before it counts as failed' -r
complete -c lvs-afpacket -l check-rise -d 'Consecutive successes that bring a down server up' -r
complete -c lvs-afpacket -l check-fall -d 'Consecutive failures that take an up server down' -r
complete -c lvs-afpacket -l check-http-path -d 'Path of the HTTP check' -r
complete -c lvs-afpacket -l check-http-status -d 'Status code the HTTP check expects' -r
complete -c lvs-afpacket -l check-http-host -d 'Host header of the HTTP check (default: the real server\'s address)' -r
complete -c lvs-afpacket -l control -d 'The control socket `lvsadm` talks to (created owner-only; a live one is not replaced)' -r -F
complete -c lvs-afpacket -l metrics -d 'Serve Prometheus metrics at http://ADDR:PORT/metrics (node_exporter\'s IPVS names)' -r
complete -c lvs-afpacket -l stats-interval-secs -d 'Seconds between statistics lines (0: only on SIGUSR1)' -r
complete -c lvs-afpacket -l conn-table-v4 -d 'IPv4 connection-table capacity per worker (entries, 256..=134217728), preallocated: 85 bytes per entry (64-byte slots, 3/4 full at most)' -r
complete -c lvs-afpacket -l conn-table-v6 -d 'IPv6 connection-table capacity per worker (entries, 256..=134217728), preallocated: 171 bytes per entry (128-byte slots, 3/4 full at most)' -r
complete -c lvs-afpacket -l log-level -d 'Log level: error, warn, info, debug or trace' -r
complete -c lvs-afpacket -l log-format -d 'Log format: `text` (one line per event) or `json` (one JSON object per line)' -r -f -a "text\t'One line of text per event (colour only when standard error is a terminal and `NO_COLOR` is not set)'
json\t'One JSON object per line, for log shippers'"
complete -c lvs-afpacket -l iface -d 'Interface to attach to with AF_PACKET (repeatable); each is one link' -r
complete -c lvs-afpacket -l fanout -d 'Worker threads joined in one AF_PACKET fanout group (1: no fanout). Each has its own connection tables: the total is stated at start and refused if it exceeds 90% of the host\'s available memory' -r
complete -c lvs-afpacket -l io -d 'Packet I/O: `packet` (AF_PACKET, the default: the kernel keeps its copy of every frame and the offloads stay on) or `af_xdp` (AF_XDP sockets, one per receive queue; zero copy where the driver has it)' -r -f -a "packet\t'AF_PACKET (receive ring chosen by `--rx-ring`)'
af_xdp\t'AF_XDP'"
complete -c lvs-afpacket -l xdp-mode -d 'With `--io af_xdp`: where the XDP program runs (`auto`: native, else generic)' -r -f -a "auto\t'Native if the driver supports it, generic otherwise'
native\t'Native (driver) XDP only'
generic\t'Generic (skb) XDP only'"
complete -c lvs-afpacket -l busy-poll-us -d 'After a pass that found frames, spin this many microseconds looking at the rings before sleeping in poll (0: sleep at once). Costs CPU that other processes on the same cores may need' -r
complete -c lvs-afpacket -l so-busy-poll-us -d 'Set SO_BUSY_POLL on the sockets to this many microseconds (0: not set). Only drivers with busy-poll support (NAPI, a napi id on the socket) use it' -r
complete -c lvs-afpacket -l rx-ring -d 'Receive ring: v2 (each frame handed over at once; one 64 KiB+ slot per frame, 192 slots in 16 MiB) or v3 (blocks handed over when full or after 1 ms; 4 MiB holds thousands of small frames). v2 is the default: in the NAT benchmarks it forwarded more new connections and more UDP packets than v3 in 6 of 7 runs each (BENCHMARKS.md, "AF_PACKET I/O path (wave 2)"); v3 needs a quarter of the memory' -r -f -a "v2\t''
v3\t''"
complete -c lvs-afpacket -l ring-blocks -d 'Blocks in each receive ring (default: 16 for v3, 64 for v2; 256 KiB each)' -r
complete -c lvs-afpacket -l expire-nodest-conn -d 'Expire a connection whose real server was removed and schedule its next packet anew (IPVS `expire_nodest_conn`; default off: its packets are dropped)'
complete -c lvs-afpacket -l expire-quiescent-template -d 'Expire a persistence template whose real server has weight 0 (IPVS `expire_quiescent_template`; default off)'
complete -c lvs-afpacket -l no-netlink -d 'Do not learn addresses, routes and neighbours from the kernel (rtnetlink): use only the flags'
complete -c lvs-afpacket -l allow-empty-reload -d 'Let a SIGHUP reload apply a rules file that has no services, or none of the running ones (refused by default: an empty or truncated file would stop every service)'
complete -c lvs-afpacket -l no-control -d 'Serve no control socket'
complete -c lvs-afpacket -l qdisc-bypass -d 'Send straight to the driver, past the interface\'s queueing discipline (PACKET_QDISC_BYPASS)'
complete -c lvs-afpacket -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lvs-afpacket -s V -l version -d 'Print version'
