//! Errors as the user reads them: the message chain, then hints chosen from the typed errors
//! of the libraries (whose messages say what happened, never which flag to pass).

use ragops_engine::EngineError;
use ragops_hub::HubError;
use ragops_remote::RemoteError;
use ragops_search::SearchError;
use ragops_store::StoreError;

/// Hints for an error: what to run or change next. Walks the whole error chain.
pub(crate) fn hints(err: &anyhow::Error) -> Vec<String> {
    let mut out = Vec::new();
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            out.extend(store_hint(e));
        } else if let Some(e) = cause.downcast_ref::<HubError>() {
            out.extend(hub_hint(e));
        } else if let Some(e) = cause.downcast_ref::<SearchError>() {
            out.extend(match e {
                SearchError::Store(e) => store_hint(e),
                e => search_hint(e),
            });
        } else if let Some(e) = cause.downcast_ref::<EngineError>() {
            out.extend(engine_hint(e));
        }
    }
    out.dedup();
    out
}

fn store_hint(e: &StoreError) -> Option<String> {
    Some(match e {
        StoreError::NoStore(_) => "run `ragops build` first, or pass --store DIR".into(),
        StoreError::NotAStore { .. } => {
            "point --store (or the pipeline's [store] dir) at an empty directory or a ragops store"
                .into()
        }
        StoreError::Locked { .. } => {
            "wait for it to finish; `ragops build --wait 10m` waits for the lock".into()
        }
        StoreError::UnknownSnapshot(_) | StoreError::UnknownTag(_) => {
            "see `ragops snapshots list`".into()
        }
        StoreError::Ambiguous(_) => "give more characters of the id".into(),
        StoreError::NothingPublished => "run `ragops build`".into(),
        StoreError::NewerFormat { .. } | StoreError::NewerStore { .. } => "upgrade ragops".into(),
        StoreError::CurrentMoved { snapshot, .. } => format!(
            "publish it anyway with `ragops snapshots rollback {snapshot}`, or build again with \
             `ragops build --force`"
        ),
        StoreError::ManifestTampered { .. } | StoreError::IdMismatch { .. } => {
            "`ragops snapshots show ID --verify` lists what is wrong; gc removes snapshots no ref names"
                .into()
        }
        _ => return None,
    })
}

fn hub_hint(e: &HubError) -> Option<String> {
    match e {
        HubError::ModelNotFound { id, local_dir, .. } => {
            let mut hint = format!(
                "fetch it with `ragops model pull {id}` (needs access to huggingface.co), or on \
                 an air-gapped machine import a downloaded copy with `ragops model import DIR \
                 --as {id}` (scripts/setup.sh does this for the default model)"
            );
            if let Some(d) = local_dir {
                hint.push_str(&format!(
                    "; the directory {0} is not used for a hub id: name it as {0} to use it",
                    d.display()
                ));
            }
            Some(hint)
        }
        HubError::BadRevision(_) => Some("use a branch or tag name, or a 40-hex commit".into()),
        _ => None,
    }
}

fn search_hint(e: &SearchError) -> Option<String> {
    match e {
        SearchError::NoFulltext(_) => Some("use --mode vector".into()),
        _ => None,
    }
}

fn engine_hint(e: &EngineError) -> Option<String> {
    // Wrapped errors are transparent: they are not separate links of the chain.
    match e {
        EngineError::Store(e) => store_hint(e),
        EngineError::Hub(e) => hub_hint(e),
        EngineError::Search(e) => search_hint(e),
        EngineError::NoParent { .. } => Some("name one (see `ragops snapshots list`)".into()),
        EngineError::ModelMismatch { .. } => Some(
            "the model files changed since the build: restore them, or build the snapshot again"
                .into(),
        ),
        EngineError::Damaged { .. } => {
            Some("`ragops snapshots show ID --verify` lists the damage".into())
        }
        EngineError::ShardsMissing { build, shards, .. } => Some(format!(
            "run each missing shard (`ragops build --shard I/{shards} --build-id {build}`), then \
             commit again; `ragops shards status {build}` lists them"
        )),
        EngineError::ShardDamaged { build, shard, .. } => Some(format!(
            "run the shard again (`ragops build --shard {shard}/N --build-id {build}`; it \
             replaces its own staging), then commit again"
        )),
        EngineError::ShardsDisagree { .. } => Some(
            "every shard of a build must run the same pipeline and model: rerun the odd one, \
             or start over with a new build id"
                .into(),
        ),
        EngineError::CommitCurrentMoved { .. } => Some(
            "plan and build again under a new build id, or `ragops commit ID --force` to \
             publish anyway"
                .into(),
        ),
        EngineError::UnknownBuild(_) => Some(
            "`ragops shards plan` (or the first shard) records a build; a committed build is \
             removed, and `ragops snapshots list` shows what it published"
                .into(),
        ),
        EngineError::Remote(e) => Some(match **e {
            RemoteError::Locked { .. } => "another commit or build holds the store; \
                 `--wait 10m` waits for it (a dead holder's lease expires by itself)"
                .into(),
            RemoteError::Checksum { .. } => "an object differs from what its manifest records: \
                 `ragops snapshots show ID --verify` on the mirror, or build again"
                .into(),
            _ => "object storage reads its settings from the environment: AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL (and AWS_ALLOW_HTTP=true \
                 for http://); GOOGLE_SERVICE_ACCOUNT; AZURE_STORAGE_ACCOUNT_NAME"
                .into(),
        }),
        _ => None,
    }
}

/// Prints an error and its hints on stderr.
pub(crate) fn print(err: &anyhow::Error) {
    eprintln!("error: {err:#}");
    for h in hints(err) {
        eprintln!("  hint: {h}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_come_from_typed_errors_anywhere_in_the_chain() {
        let e = anyhow::Error::from(EngineError::Store(StoreError::NothingPublished));
        assert_eq!(hints(&e), vec!["run `ragops build`".to_string()]);
        let missing = HubError::ModelNotFound {
            id: "acme/m".into(),
            revision: "main".into(),
            cache: "/c".into(),
            local_dir: Some("./acme/m".into()),
        };
        let e = anyhow::Error::from(EngineError::Hub(missing)).context("loading the model");
        let h = hints(&e).join("\n");
        assert!(
            h.contains("ragops model pull acme/m") && h.contains("ragops model import"),
            "{h}"
        );
        assert!(h.contains("./acme/m"), "{h}");
        assert!(hints(&anyhow::anyhow!("plain")).is_empty());
    }
}
