complete -c lvs-tap -l rules -d 'Rules in `ipvsadm -S -n` format' -r -F
complete -c lvs-tap -l keepalived-conf -d 'Take services, real servers and health checks from the LVS part of a keepalived.conf (virtual_server, virtual_server_group) instead of --rules; other blocks are skipped with a note; SIGHUP re-reads it' -r -F
complete -c lvs-tap -l mac -d 'The director\'s own MAC address (default: the interface\'s; on a TAP, the TAP\'s with its last bit flipped)' -r
complete -c lvs-tap -l addr -d 'An address of the director, `[IFACE=]CIDR` (repeatable), added to what the kernel has on that interface. `IFACE=` may be left out when one interface is served' -r
complete -c lvs-tap -l gateway -d 'Default gateway `[IFACE=]IP` (repeatable: one per family), added to the kernel\'s routes' -r
complete -c lvs-tap -l neighbor -d 'Static neighbour entry (repeatable); wins over what the kernel or the wire says' -r
complete -c lvs-tap -l check -d 'Health check kind' -r -f -a "tcp\t'TCP connect to the real server\'s port'
http\t'HTTP GET, expecting a status code'
none\t'No checks: every real server is up'"
complete -c lvs-tap -l check-interval-ms -d 'Milliseconds between two checks of one real server' -r
complete -c lvs-tap -l check-timeout-ms -d 'Milliseconds a check may take before it counts as failed' -r
complete -c lvs-tap -l check-rise -d 'Consecutive successes that bring a down server up' -r
complete -c lvs-tap -l check-fall -d 'Consecutive failures that take an up server down' -r
complete -c lvs-tap -l check-http-path -d 'Path of the HTTP check' -r
complete -c lvs-tap -l check-http-status -d 'Status code the HTTP check expects' -r
complete -c lvs-tap -l check-http-host -d 'Host header of the HTTP check (default: the real server\'s address)' -r
complete -c lvs-tap -l control -d 'The control socket `lvsadm` talks to (created owner-only; a live one is not replaced)' -r -F
complete -c lvs-tap -l metrics -d 'Serve Prometheus metrics at http://ADDR:PORT/metrics (node_exporter\'s IPVS names)' -r
complete -c lvs-tap -l stats-interval-secs -d 'Seconds between statistics lines (0: only on SIGUSR1)' -r
complete -c lvs-tap -l conn-table-v4 -d 'IPv4 connection-table capacity per worker (entries, 256..=134217728), preallocated: 85 bytes per entry (64-byte slots, 3/4 full at most)' -r
complete -c lvs-tap -l conn-table-v6 -d 'IPv6 connection-table capacity per worker (entries, 256..=134217728), preallocated: 171 bytes per entry (128-byte slots, 3/4 full at most)' -r
complete -c lvs-tap -l log-level -d 'Log level: error, warn, info, debug or trace' -r
complete -c lvs-tap -l log-format -d 'Log format: `text` (one line per event) or `json` (one JSON object per line)' -r -f -a "text\t'One line of text per event (colour only when standard error is a terminal and `NO_COLOR` is not set)'
json\t'One JSON object per line, for log shippers'"
complete -c lvs-tap -l tap -d 'TAP device to create or attach to (repeatable); each is one link' -r
complete -c lvs-tap -l expire-nodest-conn -d 'Expire a connection whose real server was removed and schedule its next packet anew (IPVS `expire_nodest_conn`; default off: its packets are dropped)'
complete -c lvs-tap -l expire-quiescent-template -d 'Expire a persistence template whose real server has weight 0 (IPVS `expire_quiescent_template`; default off)'
complete -c lvs-tap -l no-netlink -d 'Do not learn addresses, routes and neighbours from the kernel (rtnetlink): use only the flags'
complete -c lvs-tap -l allow-empty-reload -d 'Let a SIGHUP reload apply a rules file that has no services, or none of the running ones (refused by default: an empty or truncated file would stop every service)'
complete -c lvs-tap -l no-control -d 'Serve no control socket'
complete -c lvs-tap -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lvs-tap -s V -l version -d 'Print version'
