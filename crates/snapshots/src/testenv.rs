//! A test environment for the crate's unit tests: the service over memory stores and a real
//! in-process KMS (keys made through its API), snapshots with real sealed blocks written
//! straight through the store, the worker driven by hand, and "restarts" that rebuild every
//! in-memory structure over the same stores.

use crate::blocks;
use crate::error::EbsError;
use crate::model::{
    BlockRef, JobRecord, Permissions, SnapshotOrigin, SnapshotRecord, SnapshotState,
};
use crate::ops::copy::copy_snapshot;
use crate::ops::direct;
use crate::workers::run_once;
use crate::{store, Snapshots};
use kmsnap_api::gen::ebs::{self, ChecksumAlgorithm, PutSnapshotBlockRequest};
use kmsnap_api::gen::ec2;
use kmsnap_api::gen::kms::{self as kmsapi, KmsHandler};
use kmsnap_auth::model::Principal;
use kmsnap_auth::RequestContext;
use kmsnap_core::{AccountId, ManualClock, Region, RootKey};
use kmsnap_kms::Kms;
use kmsnap_store::{BlobStore, MetaStore};
use std::sync::Arc;

pub(crate) const OWNER: &str = "135713571357";
pub(crate) const OTHER: &str = "246824682468";
pub(crate) const TOKYO: &str = "ap-northeast-1";
pub(crate) const OREGON: &str = "us-west-2";

/// One "process": the service over stores that outlive it (a restart drops only this).
pub(crate) struct Env {
    pub(crate) meta: Arc<dyn MetaStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) svc: Arc<Snapshots>,
}

fn kms_over(meta: &Arc<dyn MetaStore>, clock: &Arc<ManualClock>) -> Arc<Kms> {
    Arc::new(Kms::new(meta.clone(), &RootKey::from_bytes([9u8; 32]), clock.clone()).unwrap())
}

impl Env {
    pub(crate) fn new() -> Self {
        Self::with_blobs(kmsnap_store::open_memory().1)
    }

    /// The service over memory metadata and `blobs`.
    pub(crate) fn with_blobs(blobs: Arc<dyn BlobStore>) -> Self {
        let meta = kmsnap_store::open_memory().0;
        Self::start(meta, blobs, Arc::new(ManualClock::default()))
    }

    /// A process over these stores and clock: the service and its KMS built afresh.
    fn start(meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>, clock: Arc<ManualClock>) -> Self {
        let svc = Arc::new(Snapshots::new(
            meta.clone(),
            blobs.clone(),
            kms_over(&meta, &clock),
            clock.clone(),
        ));
        Env {
            meta,
            blobs,
            clock,
            svc,
        }
    }

    /// A crash and restart: every in-memory structure (service, KMS and its caches) is
    /// rebuilt over the same stores.
    pub(crate) fn restart(self) -> Self {
        let Env {
            meta,
            blobs,
            clock,
            svc,
        } = self;
        drop(svc);
        Self::start(meta, blobs, clock)
    }

    pub(crate) fn ctx(&self, account: &str, region: &str) -> RequestContext {
        RequestContext {
            principal: Principal::root(AccountId::parse(account).unwrap(), account),
            region: Region::parse(region).unwrap(),
            request_id: kmsnap_core::ids::request_id(),
            source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            user_agent: "unit-tests".into(),
            now: self.svc.clock.now(),
            via_service: None,
        }
    }

    pub(crate) async fn key(&self, account: &str, region: &str) -> String {
        let out = self
            .svc
            .kms
            .create_key(
                &self.ctx(account, region),
                kmsapi::CreateKeyRequest::default(),
            )
            .await
            .unwrap();
        out.key_metadata.unwrap().arn.unwrap()
    }

    pub(crate) async fn disable(&self, account: &str, region: &str, key_arn: &str) {
        self.svc
            .kms
            .disable_key(
                &self.ctx(account, region),
                kmsapi::DisableKeyRequest {
                    key_id: key_arn.into(),
                },
            )
            .await
            .unwrap();
    }

    /// A completed snapshot of `account` in `region` with `blocks` (index, fill byte), sealed
    /// under `key` (None: unencrypted). `parent`: a child sharing the parent's lineage and
    /// blobs for every index not in `blocks`.
    pub(crate) async fn snapshot(
        &self,
        account: &str,
        region: &str,
        key: Option<&str>,
        blocks: &[(u64, u8)],
        parent: Option<&SnapshotRecord>,
    ) -> SnapshotRecord {
        let ctx = self.ctx(account, region);
        let id = crate::ops::common::new_id("snap").unwrap();
        let (lineage, data_key) = match parent {
            Some(p) => {
                let l = store::get_lineage(self.meta.read().unwrap().as_ref(), &p.lineage)
                    .unwrap()
                    .unwrap();
                let k = blocks::open_lineage(&self.svc.kms, &ctx, &l).await.unwrap();
                (l, k)
            }
            None => {
                let l = blocks::new_lineage(&self.svc.kms, &ctx, key, &id)
                    .await
                    .unwrap();
                let k = blocks::open_lineage(&self.svc.kms, &ctx, &l).await.unwrap();
                (l, k)
            }
        };
        let mut rows: Vec<(u64, BlockRef)> = match parent {
            Some(p) => store::blocks_from(self.meta.read().unwrap().as_ref(), &p.id, 0, usize::MAX)
                .unwrap(),
            None => Vec::new(),
        };
        for (i, fill) in blocks {
            let plain = block(*i, *fill);
            let blob = blocks::blob_key(ctx.region, &lineage.id, *i).unwrap();
            self.blobs
                .put(
                    &blob,
                    &blocks::seal(data_key.as_ref(), &lineage.id, *i, &plain).unwrap(),
                )
                .unwrap();
            rows.retain(|(j, _)| j != i);
            rows.push((
                *i,
                BlockRef {
                    blob,
                    sha256: blocks::sha256_hex(&plain),
                    lineage: lineage.id.clone(),
                },
            ));
        }
        let snap = SnapshotRecord {
            id: id.clone(),
            account: ctx.principal.account,
            region: ctx.region,
            volume_id: "vol-ffffffff".into(),
            volume_size: 1,
            state: SnapshotState::Completed,
            state_message: None,
            progress: 100,
            start_time: ctx.now,
            description: String::new(),
            encrypted: key.is_some(),
            kms_key_arn: lineage.kms_key_arn.clone(),
            lineage: lineage.id.clone(),
            tags: Vec::new(),
            permissions: Permissions::default(),
            origin: SnapshotOrigin::Volume,
            data_encryption_key_id: key.map(|_| lineage.data_key_id.clone()),
            completed: Some(ctx.now),
            managed_by: None,
        };
        let mut txn = self.meta.write().unwrap();
        if parent.is_none() {
            store::put_lineage(txn.as_mut(), &lineage).unwrap();
        }
        for (i, b) in &rows {
            store::put_block(txn.as_mut(), &id, *i, b).unwrap();
        }
        store::put_snapshot(txn.as_mut(), &snap).unwrap();
        txn.commit().unwrap();
        snap
    }

    /// A snapshot made through the EBS direct API as `ctx`: started (under `key`, a child of
    /// `parent` when given), `blocks` (index, data) written, completed; its id.
    pub(crate) async fn direct_snapshot(
        &self,
        ctx: &RequestContext,
        key: Option<&str>,
        parent: Option<&str>,
        blocks: &[(i32, Vec<u8>)],
    ) -> String {
        let req = ebs::StartSnapshotRequest {
            volume_size: 1,
            kms_key_arn: key.map(str::to_owned),
            parent_snapshot_id: parent.map(str::to_owned),
            ..Default::default()
        };
        let id = direct::start::start_snapshot(&self.svc, ctx, req)
            .await
            .unwrap()
            .snapshot_id
            .unwrap();
        for (i, data) in blocks {
            direct::write::put_snapshot_block(&self.svc, ctx, put_block_request(&id, *i, data))
                .await
                .unwrap();
        }
        let req = ebs::CompleteSnapshotRequest {
            snapshot_id: id.clone(),
            changed_blocks_count: blocks.len() as i32,
            ..Default::default()
        };
        let out = direct::complete::complete_snapshot(&self.svc, ctx, req)
            .await
            .unwrap();
        assert_eq!(out.status, Some(ebs::Status::Pending));
        id
    }

    pub(crate) async fn copy(
        &self,
        account: &str,
        region: &str,
        source: &SnapshotRecord,
        encrypted: Option<bool>,
        key: Option<&str>,
    ) -> Result<String, EbsError> {
        let req = ec2::CopySnapshotRequest {
            source_region: source.region.as_str().into(),
            source_snapshot_id: source.id.clone(),
            encrypted,
            kms_key_id: key.map(str::to_owned),
            presigned_url: Some("http://localhost/?X-Amz-Signature=abc".into()),
            destination_region: Some(region.into()),
            ..Default::default()
        };
        Ok(copy_snapshot(&self.svc, &self.ctx(account, region), req)
            .await?
            .snapshot_id
            .unwrap())
    }

    pub(crate) fn snap(&self, id: &str) -> SnapshotRecord {
        store::find_snapshot(self.meta.read().unwrap().as_ref(), id)
            .unwrap()
            .unwrap()
    }

    pub(crate) fn job(&self, id: &str) -> Option<JobRecord> {
        store::get_job(self.meta.read().unwrap().as_ref(), id).unwrap()
    }

    pub(crate) fn manifest(&self, id: &str) -> Vec<(u64, BlockRef)> {
        store::blocks_from(self.meta.read().unwrap().as_ref(), id, 0, usize::MAX).unwrap()
    }

    /// Runs the worker until no job is left; checks after every round that nothing is
    /// `completed` with fewer blocks than its source.
    pub(crate) async fn drain(&self, watch: &[(&str, usize)]) {
        for _ in 0..10_000 {
            let more = run_once(&self.svc).await.unwrap();
            self.check_never_half_complete(watch);
            if !more {
                return;
            }
        }
        panic!("jobs never finished");
    }

    pub(crate) fn check_never_half_complete(&self, watch: &[(&str, usize)]) {
        for (id, want) in watch {
            let s = self.snap(id);
            if s.state == SnapshotState::Completed {
                assert_eq!(
                    self.manifest(id).len(),
                    *want,
                    "{id} completed with missing blocks"
                );
                assert_eq!(s.progress, 100);
            }
        }
    }

    /// Every block of `id` read back as `account` (through KMS, as the direct API does).
    pub(crate) async fn read_all(&self, account: &str, id: &str) -> Vec<(u64, Vec<u8>)> {
        let s = self.snap(id);
        let ctx = self.ctx(account, s.region.as_str());
        let mut out = Vec::new();
        for (i, b) in self.manifest(id) {
            let l = store::get_lineage(self.meta.read().unwrap().as_ref(), &b.lineage)
                .unwrap()
                .unwrap();
            let k = blocks::open_lineage(&self.svc.kms, &ctx, &l).await.unwrap();
            let stored = self.blobs.get(&b.blob).unwrap().unwrap();
            out.push((
                i,
                blocks::open(k.as_ref(), id, &b.lineage, i, &stored, &b.sha256).unwrap(),
            ));
        }
        out
    }

    pub(crate) fn blob_count(&self, prefix: &str) -> usize {
        self.blobs.list(prefix).unwrap().len()
    }
}

/// A PutSnapshotBlock of `data` at `index` with its right SHA-256 checksum.
pub(crate) fn put_block_request(snap: &str, index: i32, data: &[u8]) -> PutSnapshotBlockRequest {
    PutSnapshotBlockRequest {
        snapshot_id: snap.into(),
        block_index: index,
        block_data: Some(bytes::Bytes::copy_from_slice(data)),
        data_length: data.len() as i32,
        progress: None,
        checksum: blocks::sha256_b64(data),
        checksum_algorithm: ChecksumAlgorithm::Sha256,
    }
}

/// Every event of the audit log so far, in sequence order (as `kmsnap audit export` writes
/// them).
pub(crate) fn audit_events(meta: &dyn MetaStore) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    kmsnap_audit::export(meta, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Block `i` filled with a pattern that differs per index and fill.
pub(crate) fn block(i: u64, fill: u8) -> Vec<u8> {
    let mut b = vec![fill; crate::model::BLOCK_SIZE];
    b[..8].copy_from_slice(&i.to_be_bytes());
    b
}

pub(crate) fn expected(blocks: &[(u64, u8)]) -> Vec<(u64, Vec<u8>)> {
    let mut v: Vec<(u64, Vec<u8>)> = blocks.iter().map(|(i, f)| (*i, block(*i, *f))).collect();
    v.sort_by_key(|(i, _)| *i);
    v
}
