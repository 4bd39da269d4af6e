"""My workspace (shared deployments only): this user's uploads and audit results, and deleting them."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

import identity
import state
import workspace
from cohortaudit.errors import AuditError
from cohortaudit.textsafe import for_markdown as md

st.title("My workspace")
folder = state.workspace()
if folder is None:  # the router adds this page only with sign-in on
    st.info("Without sign-in there is no workspace: uploads stay in this session.")
    st.stop()
config = identity.access_config()
st.markdown(
    "Your uploads and the results of the audits you ran are kept here, for you only: no other "
    "user can see them."
    + (
        f" Files are removed {config.retention_days} days after they were last written."
        if config.retention_days
        else " They are kept until you delete them."
    )
)


def _table(files: list[workspace.StoredFile]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "File": f.name,
                "Size (kB)": f"{f.size / 1024:,.1f}",
                "Saved": time.strftime("%Y-%m-%d %H:%M", time.localtime(f.modified)),
            }
            for f in files
        ]
    )


st.subheader("Audit results")
results = workspace.list_files(folder, workspace.RESULTS)
if not results:
    st.caption("No audit results yet: the audits you run on *Start a new audit* are kept here.")
else:
    st.table(_table(results).set_index("File"))
    names = [f.name for f in results]
    chosen = st.selectbox("Open an audit result", names, key="w_workspace_result")
    if st.button("Open this audit", key="w_workspace_open", icon=":material/folder_open:"):
        from cohortaudit.resultio import read_json_bytes

        path = results[names.index(chosen)].path
        try:
            opened = read_json_bytes(path.read_bytes(), name=path.name)
        except AuditError as e:
            st.error(f"{type(e).__name__}: {md(e)}")
            st.stop()
        state.set_result(
            opened, state.ResultInfo(source="file", description=f"from my workspace: {chosen}")
        )
        st.switch_page("views/overview.py")

st.subheader("Uploaded files")
uploaded = workspace.list_files(folder, workspace.UPLOADS)
if not uploaded:
    st.caption("No uploads yet.")
else:
    st.table(_table(uploaded).set_index("File"))

st.subheader("Delete my workspace")
st.caption("Removes every upload and result above, now. This cannot be undone.")
sure = st.checkbox("Yes, delete all my files", key="w_workspace_confirm")
if st.button("Delete my workspace", type="primary", disabled=not sure, key="w_workspace_delete"):
    workspace.delete_workspace(folder)
    state.clear_result()
    st.success("Your workspace was deleted.")
