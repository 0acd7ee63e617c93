"""The scan fingerprint: a digest of everything a scan's artifact rows are derived from
except the bytes of the files.

    listed  = for every listed path, its 10 fields joined with NUL:
              relative_path, kind, read_path, size, mtime_ns, ctime_ns, mode, inode,
              reason_code, reason_detail  (numbers in decimal; "None" / "" when unknown)
    skipped = for every path the walk skipped: relative_path NUL reason
    data    = NUL-joined: FORMAT, manifest digest, step, len(listed), sorted(listed),
              len(skipped), sorted(skipped)
    fingerprint = sha256(data as UTF-8; the bytes of a name that is not UTF-8 as they are)

No field holds a NUL (file names cannot), and the counts and fixed arities say where each
entry ends, so two different listings never give the same bytes. Every listed path counts,
matched by the manifest or not, so deciding needs no matching. The root folder and the
feature are not in it: a fingerprint is only compared with the previous snapshot of the
same feature and folder. ctime is in it because a chmod or a rewrite whose mtime was put
back both move ctime; the inode, because a file replaced by another one is a new inode.
FORMAT changes whenever the scan's rules change which rows a listing gives, so a
fingerprint taken under older rules never matches. A fingerprint that differs although
nothing changed only costs a slower scan; one that matched after a change would store a
wrong snapshot — hence everything above.
"""

import hashlib

from procobs_dagster.dossier.manifest import ScanPlan
from procobs_dagster.dossier.walk import Listing

FORMAT = 1
NUL = "\0"


def scan_fingerprint(plan: ScanPlan, listing: Listing) -> str:
    listed = sorted(
        f"{i.relative_path}{NUL}{i.kind}{NUL}{i.read_path}{NUL}{i.size}{NUL}{i.mtime_ns}"
        f"{NUL}{i.ctime_ns}{NUL}{i.mode}{NUL}{i.ino}{NUL}{NUL.join(i.problem or ('', ''))}"
        for i in listing.listed
    )
    skipped = sorted(f"{s.relative_path}{NUL}{s.reason}" for s in listing.skipped)
    data = NUL.join(
        [
            str(FORMAT),
            str(plan.manifest_digest),
            str(plan.step),
            str(len(listed)),
            *listed,
            str(len(skipped)),
            *skipped,
        ]
    )
    return hashlib.sha256(data.encode("utf-8", "surrogateescape")).hexdigest()
