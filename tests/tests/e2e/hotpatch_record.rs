//! The hot-patch record under concurrent deploys: every `hotpatch::add` keeps the entries the
//! others add at the same time.
//!
//! Through the fault-injecting proxy (`testkit::proxy`), for two things moto cannot show by
//! itself. moto 5.2 checks `If-Match` and `If-None-Match: *` on PutObject, but not atomically
//! with the write (two writers can both pass the check); the proxy runs every object write
//! with its check as one step, as S3 does (it checks `If-Match` itself, and lets moto check
//! `If-None-Match` while no other write can land). And the proxy holds the first writes until
//! all of them arrived ([`testkit::proxy::S3Proxy::race`]), so the writers really race, every
//! time. Without the conditions, or without retrying a lost race, entries go missing.

use std::collections::BTreeMap;

use quickdeploy::artifact::hotpatch::{self, Entry, Record};
use testkit::proxy::S3Proxy;
use testkit::rig::{Moto, make_bucket, s3_client};

const BUCKET: &str = "hotpatch-record";
const STACK: &str = "racing-stack";

fn entry(i: usize) -> Record {
    BTreeMap::from([(
        format!("Function{i}"),
        Entry {
            name: format!("racing-stack-Function{i}-ABC"),
            code_sha256: format!("sha-{i}"),
            artifact: format!("s3://{BUCKET}/artifacts/{i}.zip"),
            at: "2026-01-01T00:00:00Z".into(),
        },
    )])
}

/// `writers` concurrent adds, racing on their first write; `existing`: a record with one
/// entry is there before (the racers then write with If-Match, else the first write of each is
/// If-None-Match: *). Every entry must end up in the record.
async fn racing_adds(writers: usize, versioned: bool, existing: bool) {
    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint()).await;
    let direct = s3_client(&moto.endpoint()).await;
    make_bucket(&direct, BUCKET, versioned).await;
    let s3 = s3_client(&proxy.endpoint).await;
    if existing {
        hotpatch::add(&s3, BUCKET, STACK, entry(0))
            .await
            .expect("first entry");
    }
    proxy.race(writers);
    let adds: Vec<_> = (1..=writers)
        .map(|i| {
            let s3 = s3.clone();
            tokio::spawn(async move { hotpatch::add(&s3, BUCKET, STACK, entry(i)).await })
        })
        .collect();
    for (i, add) in adds.into_iter().enumerate() {
        add.await
            .expect("join")
            .unwrap_or_else(|e| panic!("writer {}: {e:#}", i + 1));
    }

    let record = hotpatch::load(&direct, BUCKET, STACK).await.expect("load");
    let first = usize::from(!existing);
    assert_eq!(record.len(), writers + 1 - first, "{record:?}");
    for i in first..=writers {
        let id = format!("Function{i}");
        assert_eq!(record.get(&id), entry(i).get(&id), "{id}: {record:?}");
    }
    if existing {
        // Every racer read the same record before any write went through: all but one lost
        // their first write to the proxy's If-Match check, then read, merged and won later.
        // (Without a record, the first writes race on If-None-Match, which moto refuses
        // itself; the proxy does not count those.)
        let (refused, _) = proxy.refused();
        assert!(
            refused >= writers - 1,
            "the writers raced and retried: {refused} refused"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_to_a_record_all_end_up_in_it() {
    racing_adds(8, true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_creating_the_record_all_end_up_in_it() {
    racing_adds(8, false, false).await;
}
