"""Peak memory of the current process.

Linux keeps ``ru_maxrss`` across ``exec``, so a child started by a big parent reports the
parent's size; ``VmHWM`` in /proc/self/status belongs to the new program alone.
"""

import resource


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
