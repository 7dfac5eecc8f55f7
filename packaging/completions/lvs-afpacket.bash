_lvs__afpacket() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="lvs__afpacket"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        lvs__afpacket)
            opts="-h -V --rules --keepalived-conf --expire-nodest-conn --expire-quiescent-template --mac --addr --gateway --neighbor --no-netlink --allow-empty-reload --check --check-interval-ms --check-timeout-ms --check-rise --check-fall --check-http-path --check-http-status --check-http-host --control --no-control --metrics --stats-interval-secs --conn-table-v4 --conn-table-v6 --log-level --log-format --iface --fanout --io --xdp-mode --busy-poll-us --qdisc-bypass --so-busy-poll-us --rx-ring --ring-blocks --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --rules)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --keepalived-conf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --mac)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --addr)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --gateway)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --neighbor)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --check)
                    COMPREPLY=($(compgen -W "tcp http none" -- "${cur}"))
                    return 0
                    ;;
                --check-interval-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --check-timeout-ms)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --check-rise)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --check-fall)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --check-http-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --check-http-status)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --check-http-host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --control)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --stats-interval-secs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --conn-table-v4)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --conn-table-v6)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-format)
                    COMPREPLY=($(compgen -W "text json" -- "${cur}"))
                    return 0
                    ;;
                --iface)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fanout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --io)
                    COMPREPLY=($(compgen -W "packet af_xdp" -- "${cur}"))
                    return 0
                    ;;
                --xdp-mode)
                    COMPREPLY=($(compgen -W "auto native generic" -- "${cur}"))
                    return 0
                    ;;
                --busy-poll-us)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --so-busy-poll-us)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rx-ring)
                    COMPREPLY=($(compgen -W "v2 v3" -- "${cur}"))
                    return 0
                    ;;
                --ring-blocks)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _lvs__afpacket -o nosort -o bashdefault -o default lvs-afpacket
else
    complete -F _lvs__afpacket -o bashdefault -o default lvs-afpacket
fi
