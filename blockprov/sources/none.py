"""None: always found, last. Lets a machine with no datasource finish booting at once.

``datasource: {None: {metadata: {...}, userdata_raw: "..."}}`` in the system
config gives it data (for images that carry their own configuration).
"""

from __future__ import annotations

from blockprov.sources import NONE_IID, Context, SourceData

NAME = "None"
LOCAL = False


def find(ctx: Context) -> SourceData:
    dscfg = ctx.dscfg(NAME)
    md = dscfg.get("metadata") if isinstance(dscfg.get("metadata"), dict) else {}
    ud = dscfg.get("userdata_raw")
    return SourceData(name=NAME, instance_id=str(md.get("instance-id") or NONE_IID), metadata=md, dsmode="net",
                      local_hostname=md.get("local-hostname"), platform="none",
                      userdata=ud.encode() if isinstance(ud, str) else None)
