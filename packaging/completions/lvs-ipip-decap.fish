complete -c lvs-ipip-decap -l iface -d 'Interface the tunnelled packets arrive on' -r
complete -c lvs-ipip-decap -l tun -d 'TUN device to create for the inner packets' -r
complete -c lvs-ipip-decap -l gue-port -d 'Also decapsulate GUE (UDP) sent to this port' -r
complete -c lvs-ipip-decap -l stats-interval-secs -d 'Seconds between counter lines in the log (0: only at exit and on SIGUSR1)' -r
complete -c lvs-ipip-decap -l log-level -d 'Log level: error, warn, info, debug or trace' -r
complete -c lvs-ipip-decap -l log-format -d 'Log format: `text` (one line per event) or `json` (one JSON object per line)' -r -f -a "text\t'One line of text per event (colour only when standard error is a terminal and `NO_COLOR` is not set)'
json\t'One JSON object per line, for log shippers'"
complete -c lvs-ipip-decap -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lvs-ipip-decap -s V -l version -d 'Print version'
