# shellcheck shell=sh
# What both guest inits (guest-init.sh, guest-bench.sh) use; mk-initramfs.sh puts
# it at /bin/guest-lib.sh beside them.

# Seconds since boot, for the timings on the console.
t() { cut -d' ' -f1 /proc/uptime; }

# emit NAME FILE: the file back to the host over the serial console, base64
# between markers that run.sh cuts it out by.
emit() {
        echo "@@BEGIN $1@@"
        base64 <"$2"
        echo "@@END $1@@"
}

# wait_until SECONDS COMMAND...: every 0.2 s until COMMAND succeeds.
wait_until() {
        n=$(($1 * 5))
        shift
        while [ $n -gt 0 ]; do
                "$@" && return 0
                sleep 0.2
                n=$((n - 1))
        done
        return 1
}
