//! `kmsnap fsck`: an offline check of every block the manifests reference (run with the server
//! stopped; it opens the same store).
//!
//! * Every manifest row (`ebs_blocks`, volumes and snapshots alike) is read; rows sharing a blob
//!   are grouped, so a block shared by a parent, its children and volumes is read once and its
//!   damage is reported with *every* resource that references it.
//! * Unencrypted blocks must match their manifest SHA-256. Encrypted blocks are opened with
//!   their lineage's data key, which KMS unwraps in-process for the lineage's owner (its
//!   account root, through EC2, as reads do; the Decrypt is audited like any other). When KMS
//!   refuses (key disabled, pending deletion, deleted), those blocks can only be checked for
//!   the sealed layout and are reported as unverified, not as damaged.
//! * Blobs under a region's `blocks/` that no manifest references are orphans
//!   ([`gc::is_orphan`], the running server's collector's definition): a write that crashed
//!   between its blob and its manifest row, or blocks of deleted resources. Listed, and deleted
//!   only when asked — after the copy-map entries that name them, as the collector does, so no
//!   later copy reuses a deleted blob. (A running server deletes them itself; fsck finds some
//!   only if it stopped before its collector got to them.)

use crate::blocks::{self, DataKey};
use crate::error::EbsError;
use crate::model::BlockRef;
use crate::{gc, store, Snapshots};
use kmsnap_auth::model::Principal;
use kmsnap_auth::RequestContext;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One manifest row that references a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `vol-…` or `snap-…`.
    pub resource: String,
    pub index: u64,
    /// `{account}/{region}` of the resource, when its record still exists.
    pub owner: Option<String>,
}

/// A block that is missing or fails its integrity check, and who references it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub blob: String,
    pub problem: String,
    pub references: Vec<Reference>,
}

/// Blocks that could not be opened because KMS would not unwrap their lineage's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub lineage: String,
    pub reason: String,
    pub blobs: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Volumes and snapshots with at least one block.
    pub resources: u64,
    pub rows: u64,
    pub blobs: u64,
    pub damaged: Vec<Damaged>,
    pub unverified: Vec<Unverified>,
    pub orphans: Vec<String>,
    pub orphans_deleted: u64,
    /// Copy-map entries naming orphans, dropped before them (`delete_orphans` only).
    pub unmapped: u64,
}

impl FsckReport {
    pub fn clean(&self) -> bool {
        self.damaged.is_empty()
    }
}

/// Progress: (blobs checked, blobs in all).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

fn manifest_rows(svc: &Snapshots) -> Result<Vec<(String, u64, BlockRef)>, EbsError> {
    let mut out = Vec::new();
    store::for_each_block(&*svc.meta.read()?, |resource, index, b| {
        out.push((resource.to_owned(), index, b));
        Ok(())
    })?;
    Ok(out)
}

/// Checks every referenced block; deletes orphans when `delete_orphans`.
pub async fn fsck(
    svc: &Snapshots,
    delete_orphans: bool,
    progress: Progress,
) -> Result<FsckReport, EbsError> {
    let rows = manifest_rows(svc)?;
    let mut report = FsckReport {
        rows: rows.len() as u64,
        ..Default::default()
    };
    report.resources = rows
        .iter()
        .map(|(r, _, _)| r.as_str())
        .collect::<BTreeSet<_>>()
        .len() as u64;
    let owners: BTreeMap<String, Option<String>> = {
        let txn = svc.meta.read()?;
        let mut m = BTreeMap::new();
        for (r, _, _) in &rows {
            if !m.contains_key(r) {
                m.insert(
                    r.clone(),
                    store::locate(txn.as_ref(), r)?.map(|(a, reg)| format!("{a}/{reg}")),
                );
            }
        }
        m
    };
    let mut by_blob: BTreeMap<String, Vec<(String, u64, BlockRef)>> = BTreeMap::new();
    for row in rows {
        by_blob.entry(row.2.blob.clone()).or_default().push(row);
    }
    report.blobs = by_blob.len() as u64;

    // The data key of every lineage, unwrapped for its owner.
    let lineage_ids: BTreeSet<String> = by_blob
        .values()
        .flatten()
        .map(|(_, _, b)| b.lineage.clone())
        .collect();
    let mut keys: BTreeMap<String, Result<Option<Arc<DataKey>>, String>> = BTreeMap::new();
    for id in lineage_ids {
        let lineage = store::get_lineage(svc.meta.read()?.as_ref(), &id)?;
        let key = match lineage {
            None => Err("the lineage record is missing".to_owned()),
            Some(l) => {
                let ctx = RequestContext {
                    principal: Principal::root(l.account, ""),
                    region: l.region,
                    request_id: kmsnap_core::ids::request_id(),
                    source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                    user_agent: "kmsnap-fsck".into(),
                    now: svc.clock.now(),
                    via_service: None,
                };
                match blocks::open_lineage(&svc.kms, &ctx, &l).await {
                    Ok(k) => Ok(k.map(Arc::new)),
                    Err(EbsError::Kms { code, message }) => Err(format!(
                        "KMS would not unwrap the data key: {code}: {message}"
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        keys.insert(id, key);
    }

    let total = report.blobs;
    let blobs = svc.blobs.clone();
    let owners = Arc::new(owners);
    let (damaged, unverified) = crate::blocking(move || -> Result<_, EbsError> {
        let mut damaged = Vec::new();
        let mut unverified: BTreeMap<String, (String, u64)> = BTreeMap::new();
        for (done, (blob, refs)) in by_blob.into_iter().enumerate() {
            progress(done as u64, total);
            let references = || {
                refs.iter()
                    .map(|(r, i, _)| Reference {
                        resource: r.clone(),
                        index: *i,
                        owner: owners.get(r).cloned().flatten(),
                    })
                    .collect()
            };
            let stored = match blobs.get(&blob) {
                Ok(Some(s)) => s,
                Ok(None) => {
                    damaged.push(Damaged {
                        blob: blob.clone(),
                        problem: "the block file is missing".into(),
                        references: references(),
                    });
                    continue;
                }
                Err(e) => {
                    damaged.push(Damaged {
                        blob: blob.clone(),
                        problem: format!("the block file cannot be read: {e}"),
                        references: references(),
                    });
                    continue;
                }
            };
            // Each distinct way the blob is referenced (normally one: same lineage, index, digest).
            let mut seen = BTreeSet::new();
            let mut problem = None;
            for (resource, index, row) in &refs {
                if !seen.insert((row.lineage.clone(), *index, row.sha256.clone())) {
                    continue;
                }
                match keys.get(&row.lineage) {
                    Some(Ok(key)) => {
                        if blocks::open(
                            key.as_deref(),
                            resource,
                            &row.lineage,
                            *index,
                            &stored,
                            &row.sha256,
                        )
                        .is_err()
                        {
                            problem = Some(if key.is_some() {
                                "the block fails authentication (AES-GCM) or its SHA-256".to_owned()
                            } else {
                                "the block does not match its SHA-256".to_owned()
                            });
                        }
                    }
                    Some(Err(reason)) => {
                        if blocks::well_formed_sealed(&stored) {
                            unverified
                                .entry(row.lineage.clone())
                                .or_insert_with(|| (reason.clone(), 0))
                                .1 += 1;
                        } else {
                            problem = Some("the block does not have the sealed layout".to_owned());
                        }
                    }
                    None => problem = Some("no lineage".to_owned()),
                }
            }
            if let Some(p) = problem {
                damaged.push(Damaged {
                    blob: blob.clone(),
                    problem: p,
                    references: references(),
                });
            }
        }
        progress(total, total);
        Ok((damaged, unverified))
    })
    .await??;
    report.damaged = damaged;
    report.unverified = unverified
        .into_iter()
        .map(|(lineage, (reason, blobs))| Unverified {
            lineage,
            reason,
            blobs,
        })
        .collect();

    let (meta, blobs) = (svc.meta.clone(), svc.blobs.clone());
    let (orphans, deleted, unmapped) = crate::blocking(move || -> Result<_, EbsError> {
        let refs = gc::References::read(meta.as_ref())?;
        let orphans: Vec<String> = blobs
            .list("")?
            .into_iter()
            .filter(|k| gc::is_orphan(k, &refs))
            .collect();
        if !delete_orphans {
            return Ok((orphans, 0, 0));
        }
        let unmapped = gc::unmap(meta.as_ref(), &refs)?;
        let mut deleted = 0;
        for key in &orphans {
            if blobs.delete(key)? {
                deleted += 1;
            }
        }
        Ok((orphans, deleted, unmapped))
    })
    .await??;
    report.orphans = orphans;
    report.orphans_deleted = deleted;
    report.unmapped = unmapped;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BLOCK_SIZE;
    use crate::testenv::{Env, TOKYO};
    use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};

    const ACCOUNT: &str = "246824682468";

    /// A direct-API snapshot with blocks `writes`, block `i` filled with `i + 1`.
    async fn snapshot(
        env: &Env,
        key: Option<String>,
        parent: Option<String>,
        writes: &[u64],
    ) -> String {
        let blocks: Vec<(i32, Vec<u8>)> = writes
            .iter()
            .map(|&i| (i as i32, vec![i as u8 + 1; BLOCK_SIZE]))
            .collect();
        env.direct_snapshot(
            &env.ctx(ACCOUNT, TOKYO),
            key.as_deref(),
            parent.as_deref(),
            &blocks,
        )
        .await
    }

    #[tokio::test]
    async fn finds_damage_with_every_reference_and_orphans() {
        let env = Env::new();
        let svc = &env.svc;
        let c = env.ctx(ACCOUNT, TOKYO);
        let key = env.key(ACCOUNT, TOKYO).await;
        let parent = snapshot(&env, Some(key.clone()), None, &[0, 1]).await;
        let child = snapshot(&env, None, Some(parent.clone()), &[2]).await;
        let plain = snapshot(&env, None, None, &[0]).await;
        let quiet: Progress = Arc::new(|_, _| {});
        let clean = fsck(svc, false, quiet.clone()).await.unwrap();
        assert!(clean.clean() && clean.orphans.is_empty(), "{clean:?}");
        assert_eq!((clean.resources, clean.rows, clean.blobs), (3, 6, 4));

        // Flip a byte of block 0 of the parent (shared with the child) and of the plain one.
        let flip = |id: &str| {
            let row = store::get_block(svc.meta.read().unwrap().as_ref(), id, 0)
                .unwrap()
                .unwrap();
            let mut b = svc.blobs.get(&row.blob).unwrap().unwrap();
            b[4242] ^= 0x10;
            svc.blobs.put(&row.blob, &b).unwrap();
        };
        flip(&parent);
        flip(&plain);
        svc.blobs
            .put("ap-northeast-1/blocks/lin-gone/0000000000-ab", b"x")
            .unwrap();
        let r = fsck(svc, false, quiet.clone()).await.unwrap();
        assert!(!r.clean());
        assert_eq!(r.damaged.len(), 2, "{r:?}");
        let shared = r.damaged.iter().find(|d| d.references.len() == 2).unwrap();
        let mut who: Vec<&str> = shared
            .references
            .iter()
            .map(|x| x.resource.as_str())
            .collect();
        who.sort();
        let mut want = vec![parent.as_str(), child.as_str()];
        want.sort();
        assert_eq!(who, want);
        assert!(r.damaged.iter().any(|d| d.references[0].resource == plain));
        assert_eq!(
            r.orphans,
            vec!["ap-northeast-1/blocks/lin-gone/0000000000-ab".to_owned()]
        );

        // A disabled key: encrypted blocks unverified, not damaged (the flipped one still has
        // its layout, so it is unverified too).
        svc.kms
            .disable_key(&c, kmsapi::DisableKeyRequest { key_id: key })
            .await
            .unwrap();
        let r = fsck(svc, true, quiet).await.unwrap();
        assert_eq!(r.damaged.len(), 1);
        assert_eq!(r.unverified.len(), 1);
        assert_eq!(
            r.unverified[0].blobs, 3,
            "parent blocks 0, 1 and the child's block 2"
        );
        assert_eq!(r.orphans_deleted, 1);
        assert!(!svc
            .blobs
            .exists("ap-northeast-1/blocks/lin-gone/0000000000-ab")
            .unwrap());
    }
}
