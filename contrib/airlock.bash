# bash completion for airlock: commands, options, sandbox names, snapshot tags, image names.
# Installed as $(datadir)/bash-completion/completions/airlock. Commands and options are read
# from airlock's own --help, so this file never lists them twice.

# Runs the airlock being completed, with the -c/--accel given on the line; quiet.
_airlock_run()
{
    "${_airlock_bin:-airlock}" "${_airlock_global[@]}" "$@" 2>/dev/null
}

_airlock_commands()
{
    _airlock_run --help | awk '/^Commands:/ {f = 1; next} /^$/ {f = 0} f {print $1}' | sort -u
}

_airlock_subcommands()
{
    _airlock_run "$1" --help | awk '/^Subcommands:/ {f = 1; next} /^$/ {f = 0} f {print $1}'
}

# Long options of a command, from its --help (hidden ones are not shown there).
_airlock_options()
{
    _airlock_run "$@" --help | grep -oE -- '(^|[ ,])--[a-z][a-z-]*' | sed 's/^[ ,]*//' | sort -u
}

_airlock_sandboxes()
{
    _airlock_run list --format names
}

_airlock_images()
{
    _airlock_run image list --json | sed -n 's/^ *"name" : "\(.*\)",\{0,1\}$/\1/p'
}

_airlock_tags()
{
    _airlock_run snapshots "$1" --json | sed -n 's/^ *"tag" : "\(.*\)",\{0,1\}$/\1/p'
}

_airlock()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local i=1 cmd= sub= first= j
    local -a _airlock_global=()
    local _airlock_bin=${COMP_WORDS[0]}
    COMPREPLY=()

    # Global options come before the command.
    while [ "$i" -lt "$COMP_CWORD" ]; do
        case ${COMP_WORDS[i]} in
        -c | --connect | --accel)
            _airlock_global+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}")
            i=$((i + 2))
            ;;
        -*) i=$((i + 1)) ;;
        *) break ;;
        esac
    done
    case $prev in
    -c | --connect) COMPREPLY=($(compgen -W "qemu:///system qemu:///session test:///default" -- "$cur")); return ;;
    --accel) COMPREPLY=($(compgen -W "kvm tcg" -- "$cur")); return ;;
    esac
    if [ "$i" -ge "$COMP_CWORD" ]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-c --connect --accel --version --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(_airlock_commands) help" -- "$cur"))
        fi
        return
    fi
    cmd=${COMP_WORDS[i]}
    if [ "$cmd" = help ]; then
        [ "$COMP_CWORD" -eq $((i + 1)) ] && COMPREPLY=($(compgen -W "$(_airlock_commands)" -- "$cur"))
        return
    fi
    case $cmd in
    archive | batch | audit | token | image | spec | pool)
        if [ "$COMP_CWORD" -eq $((i + 1)) ]; then
            COMPREPLY=($(compgen -W "$(_airlock_subcommands "$cmd")" -- "$cur"))
            return
        fi
        sub=${COMP_WORDS[i + 1]}
        i=$((i + 1))
        ;;
    esac

    # An option's value.
    case $prev in
    --image | --from | --kernel-from) COMPREPLY=($(compgen -W "$(_airlock_images)" -- "$cur")); return ;;
    --network) COMPREPLY=($(compgen -W "isolated allow none" -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "table json names" -- "$cur")); return ;;
    --state) COMPREPLY=($(compgen -W "running paused shutoff" -- "$cur")); return ;;
    --file | --secrets | --output | -o | --recipe) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --to | --delete | -d)
        COMPREPLY=($(compgen -W "$(_airlock_tags "${COMP_WORDS[i + 1]}")" -- "$cur"))
        return
        ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_airlock_options $cmd $sub)" -- "$cur"))
        return
    fi

    # The first operand after the command (options skipped), then the rest.
    first=
    for ((j = i + 1; j < COMP_CWORD; j++)); do
        [[ ${COMP_WORDS[j]} == -* ]] && continue
        first=${COMP_WORDS[j]}
        break
    done
    case "$cmd${sub:+ $sub}" in
    "image verify" | "image rm") [ -z "$first" ] && COMPREPLY=($(compgen -W "$(_airlock_images)" -- "$cur")) ;;
    "pool set") [ -z "$first" ] && COMPREPLY=($(compgen -W "$(_airlock_images)" -- "$cur") $(compgen -f -- "$cur")) ;;
    "batch run" | "batch check" | "spec check" | "image import") COMPREPLY=($(compgen -f -- "$cur")) ;;
    snapshot)
        if [ -z "$first" ]; then
            COMPREPLY=($(compgen -W "$(_airlock_sandboxes)" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(_airlock_tags "$first")" -- "$cur"))
        fi
        ;;
    cp)
        # NAME:PATH on one side, a local path on the other.
        COMPREPLY=($(compgen -W "$(_airlock_sandboxes | sed 's/$/:/')" -- "$cur") $(compgen -f -- "$cur"))
        compopt -o nospace 2>/dev/null
        ;;
    exec | shell | reset | pause | resume | ttl | snapshots | inspect | console | port | logs | events | stats)
        [ -z "$first" ] && COMPREPLY=($(compgen -W "$(_airlock_sandboxes)" -- "$cur"))
        ;;
    destroy | "audit verify") COMPREPLY=($(compgen -W "$(_airlock_sandboxes)" -- "$cur")) ;;
    create) ;;
    esac
}
complete -F _airlock airlock
