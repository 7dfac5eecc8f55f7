complete -c lvs-pcap -l rules -d 'Rules in `ipvsadm -S -n` format' -r -F
complete -c lvs-pcap -l in -d 'Input capture (Ethernet)' -r -F
complete -c lvs-pcap -l out -d 'Output capture: every frame the director would send' -r -F
complete -c lvs-pcap -l mac -d 'The director\'s MAC' -r
complete -c lvs-pcap -l addr -d 'The director\'s addresses (repeatable)' -r
complete -c lvs-pcap -l gateway -d 'Default gateway' -r
complete -c lvs-pcap -l neighbor -d 'Static neighbour (repeatable)' -r
complete -c lvs-pcap -l log-level -d 'Log level: error, warn, info, debug or trace' -r
complete -c lvs-pcap -l log-format -d 'Log format: `text` (one line per event) or `json` (one JSON object per line)' -r -f -a "text\t'One line of text per event (colour only when standard error is a terminal and `NO_COLOR` is not set)'
json\t'One JSON object per line, for log shippers'"
complete -c lvs-pcap -l connections -d 'Also print the connection entries left at the end (`ipvsadm -Lnc`)'
complete -c lvs-pcap -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lvs-pcap -s V -l version -d 'Print version'
