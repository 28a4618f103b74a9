use super::*;
use crate::testenv::{Env, OWNER, TOKYO};
use kmsnap_store::encode_record;
use std::collections::BTreeMap;

fn rds_use(db_id: &str) -> ServiceUse {
    ServiceUse::new("rds.amazonaws.com", [("aws:rds:db-id", db_id)])
}

/// A lineage record as versions before the generic key use wrote it (version 1, RDS's own
/// variant), byte for byte the JSON those versions produced.
const V1_LINEAGE: &str = r#"{"id":"lin-0123456789abcdef01234567","account":"135713571357","region":"ap-northeast-1","kms_key_arn":"arn:aws:kms:ap-northeast-1:135713571357:key/k","wrapped_data_key":[1,2,3],"ec_resource":"vol-0123456789abcdef0","data_key_id":"d","created":"2026-12-01T00:00:00Z","key_use":{"Rds":{"db_id":"db-ABCDEFGHIJKLMNOPQRSTUVWXYZ"}}}"#;

/// A volume record as version 1 wrote it (an RDS instance's storage), byte for byte.
const V1_VOLUME: &str = r#"{"id":"vol-0123456789abcdef0","account":"135713571357","region":"ap-northeast-1","availability_zone":"ap-northeast-1a","size_gib":20,"snapshot_id":null,"state":"available","encrypted":true,"kms_key_arn":"arn:aws:kms:ap-northeast-1:135713571357:key/k","lineage":"lin-0123456789abcdef01234567","volume_type":"gp3","iops":3000,"throughput":125,"multi_attach":false,"created":"2026-12-01T00:00:00Z","tags":[["Name","db"]],"managed_by":{"Rds":{"db_id":"db-ABCDEFGHIJKLMNOPQRSTUVWXYZ"}}}"#;

/// Persisted data stays readable: version-1 records naming RDS's variants read as the same
/// service and encryption context, so KMS sees exactly what it saw when they were written.
#[test]
fn version_1_key_uses_read_as_the_service_use_they_meant() {
    let meta = kmsnap_store::open_memory().0;
    let mut txn = meta.write().unwrap();
    // `json` stored as a version-1 lineage record, read back through the store.
    let v1_lineage = |txn: &mut dyn WriteTxn, json: &serde_json::Value| {
        txn.put(
            store::T_LINEAGES,
            b"lin-0123456789abcdef01234567",
            &encode_record(1, json).unwrap(),
        )
        .unwrap();
        store::get_lineage(&*txn, "lin-0123456789abcdef01234567")
            .unwrap()
            .unwrap()
    };
    let raw: serde_json::Value = serde_json::from_str(V1_LINEAGE).unwrap();
    let l = v1_lineage(txn.as_mut(), &raw);
    assert_eq!(
        l.key_use,
        KeyUse::Service(rds_use("db-ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    );
    assert_eq!(l.key_use.service(), "rds.amazonaws.com");
    assert_eq!(
        l.key_use.context("ignored"),
        BTreeMap::from([(
            "aws:rds:db-id".to_owned(),
            "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ".to_owned()
        )])
    );
    // Cluster storage and EBS's own, in the other record kinds that carry a key use.
    let mut v1_volume: serde_json::Value = serde_json::from_str(V1_VOLUME).unwrap();
    v1_volume["managed_by"] = serde_json::json!({"RdsCluster": {"dbc_id": "cluster-ABC"}});
    txn.put(
        store::T_VOLUMES,
        b"135713571357/ap-northeast-1/vol-0123456789abcdef0",
        &encode_record(1, &v1_volume).unwrap(),
    )
    .unwrap();
    let account = AccountId::parse("135713571357").unwrap();
    let tokyo = Region::parse(TOKYO).unwrap();
    let cluster = store::get_volume(&*txn, account, tokyo, "vol-0123456789abcdef0")
        .unwrap()
        .unwrap()
        .managed_by;
    assert_eq!(
        cluster,
        Some(KeyUse::Service(ServiceUse::new(
            "rds.amazonaws.com",
            [("aws:rds:dbc-id", "cluster-ABC")]
        )))
    );
    let ebs: KeyUse = serde_json::from_str(r#""Ebs""#).unwrap();
    assert_eq!(ebs, KeyUse::Ebs);
    // A lineage record from before key uses existed reads as EBS's.
    let mut no_use = raw.clone();
    no_use.as_object_mut().unwrap().remove("key_use");
    let l = v1_lineage(txn.as_mut(), &no_use);
    assert_eq!(l.key_use, KeyUse::Ebs);
    // What is written now reads back the same.
    store::put_lineage(txn.as_mut(), &l).unwrap();
    let upgraded = LineageRecord {
        key_use: KeyUse::Service(rds_use("db-X")),
        ..l
    };
    store::put_lineage(txn.as_mut(), &upgraded).unwrap();
    assert_eq!(
        store::get_lineage(&*txn, &upgraded.id).unwrap().unwrap(),
        upgraded
    );
}

/// A managed volume's data key is bound to the service's encryption context: it opens for the
/// service that made it, and not as EBS's (another context).
#[tokio::test]
async fn a_managed_data_key_opens_only_with_its_service_context() {
    let env = Env::new();
    let ctx = env.ctx(OWNER, TOKYO);
    let key = env.key(OWNER, TOKYO).await;
    let spec = VolumeSpec {
        size_gib: 1,
        key_arn: Some(key.clone()),
        key_use: rds_use("db-TEST"),
        source: VolumeSource::Empty,
    };
    let new = env.svc.prepare_volume(&ctx, spec).await.unwrap();
    let mut txn = env.meta.write().unwrap();
    let id = create_volume(txn.as_mut(), new).unwrap();
    txn.commit().unwrap();
    env.svc.check_volume_key(&ctx, &id).await.unwrap();
    let (account, region) = (ctx.principal.account, ctx.region);
    let read = env.meta.read().unwrap();
    let sk = volume_key(read.as_ref(), account, region, &id)
        .unwrap()
        .unwrap();
    assert_eq!(sk.key_use, KeyUse::Service(rds_use("db-TEST")));
    assert_eq!(sk.kms_key_arn.as_deref(), Some(key.as_str()));
    let v = store::get_volume(read.as_ref(), account, region, id.as_str())
        .unwrap()
        .unwrap();
    let lineage = store::get_lineage(read.as_ref(), &v.lineage)
        .unwrap()
        .unwrap();
    drop(read);
    let as_ebs = LineageRecord {
        key_use: KeyUse::Ebs,
        ..lineage
    };
    assert!(blocks::open_lineage(&env.svc.kms, &ctx, &as_ebs)
        .await
        .is_err());
    // EC2 does not list it.
    let listed = crate::ops::volumes::describe(&env.svc, &ctx, Default::default())
        .await
        .unwrap();
    assert!(listed.volumes.unwrap_or_default().is_empty());
}

/// The calls compose inside one transaction: a seal, a copy and a drop of the volume, and
/// nothing is written if the caller does not commit.
#[tokio::test]
async fn seal_copy_and_drop_in_the_callers_transaction() {
    let env = Env::new();
    let ctx = env.ctx(OWNER, TOKYO);
    let (account, region, now) = (ctx.principal.account, ctx.region, ctx.now);
    let spec = VolumeSpec {
        size_gib: 2,
        key_arn: None,
        key_use: rds_use("db-T"),
        source: VolumeSource::Empty,
    };
    let new = env.svc.prepare_volume(&ctx, spec.clone()).await.unwrap();
    // Not committed: nothing is there.
    {
        let mut txn = env.meta.write().unwrap();
        let id = create_volume(txn.as_mut(), new).unwrap();
        drop(txn);
        let read = env.meta.read().unwrap();
        assert_eq!(volume(read.as_ref(), account, region, &id).unwrap(), None);
    }
    let new = env.svc.prepare_volume(&ctx, spec).await.unwrap();
    let mut txn = env.meta.write().unwrap();
    let vol = create_volume(txn.as_mut(), new).unwrap();
    let sealed = seal_snapshot(
        txn.as_mut(),
        account,
        region,
        &vol,
        &rds_use("db-T"),
        "s".into(),
        now,
    )
    .unwrap();
    let info = snapshot(&*txn, account, region, &sealed).unwrap().unwrap();
    assert_eq!(
        (info.state, info.progress, info.size_gib),
        (SnapshotState::Pending, 0, 2)
    );
    // Dropping the volume seals what was pending from it first.
    drop_volume(txn.as_mut(), account, region, &vol, now).unwrap();
    assert_eq!(volume(&*txn, account, region, &vol).unwrap(), None);
    let info = snapshot(&*txn, account, region, &sealed).unwrap().unwrap();
    assert_eq!((info.state, info.progress), (SnapshotState::Completed, 100));
    // Same account, region and key: the copy shares the source's lineage.
    let to = CopyTo {
        account,
        region,
        key_arn: None,
    };
    let caller = JobCaller::from_context(&ctx);
    let copy = queue_copy(
        txn.as_mut(),
        &info,
        to,
        &rds_use("db-T"),
        "c".into(),
        caller,
        now,
    )
    .unwrap();
    let c = store::get_snapshot(&*txn, account, region, copy.as_str())
        .unwrap()
        .unwrap();
    let s = store::get_snapshot(&*txn, account, region, sealed.as_str())
        .unwrap()
        .unwrap();
    assert_eq!(c.lineage, s.lineage);
    assert!(matches!(
        store::get_job(&*txn, copy.as_str()).unwrap().unwrap().kind,
        JobKind::Copy {
            share_blobs: true,
            ..
        }
    ));
    drop_snapshot(txn.as_mut(), account, region, &copy).unwrap();
    assert_eq!(snapshot(&*txn, account, region, &copy).unwrap(), None);
    txn.commit().unwrap();
}
