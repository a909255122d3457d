//! Properties of the simulated disk (`storage::sim`) against a plain model: what reads show, what a
//! clean or keep-all crash leaves, and that a seeded crash image is always a mix the model allows.

use std::collections::BTreeMap;

use proptest::prelude::*;
use zk_engine::storage::sim::SimDir;
use zk_engine::storage::LogDir;

const FILE_LEN: usize = 4096;

#[derive(Debug, Clone)]
enum WriteOp {
    Write { offset: usize, len: usize, fill: u8 },
    Sync,
}

fn write_op() -> impl Strategy<Value = WriteOp> {
    prop_oneof![
        4 => (0..FILE_LEN, 1..1500usize, 1..=255u8).prop_map(|(offset, len, fill)| {
            WriteOp::Write { offset, len: len.min(FILE_LEN - offset), fill }
        }),
        1 => Just(WriteOp::Sync),
    ]
}

#[derive(Debug, Clone)]
enum DirOp {
    Create(usize),
    Rename(usize, usize),
    Remove(usize),
    SyncDir,
}

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

fn dir_op() -> impl Strategy<Value = DirOp> {
    prop_oneof![
        3 => (0..NAMES.len()).prop_map(DirOp::Create),
        3 => (0..NAMES.len(), 0..NAMES.len()).prop_map(|(from, to)| DirOp::Rename(from, to)),
        2 => (0..NAMES.len()).prop_map(DirOp::Remove),
        1 => Just(DirOp::SyncDir),
    ]
}

proptest! {
    #[test]
    fn file_contents_follow_the_model(
        ops in proptest::collection::vec(write_op(), 1..24),
        seeds in proptest::collection::vec(any::<u64>(), 4),
    ) {
        let dir = SimDir::new();
        dir.create_zeroed("seg", FILE_LEN as u64).unwrap();
        dir.sync_dir().unwrap();
        let mut writer = dir.open_writer("seg").unwrap();
        let mut durable = vec![0u8; FILE_LEN];
        let mut live = durable.clone();
        let mut pending: Vec<(usize, usize, u8)> = Vec::new();
        for op in &ops {
            match *op {
                WriteOp::Write { offset, len, fill } => {
                    writer.write_at(offset as u64, &vec![fill; len]).unwrap();
                    live[offset..offset + len].fill(fill);
                    pending.push((offset, len, fill));
                }
                WriteOp::Sync => {
                    writer.sync(0, 0).unwrap();
                    durable.clone_from(&live);
                    pending.clear();
                }
            }
        }
        prop_assert_eq!(dir.file_bytes("seg").unwrap(), live.clone());
        prop_assert_eq!(dir.durable_file_bytes("seg").unwrap(), durable.clone());
        prop_assert_eq!(dir.crash_clean().file_bytes("seg").unwrap(), durable.clone());
        prop_assert_eq!(dir.crash_keep_all().file_bytes("seg").unwrap(), live);
        for seed in seeds {
            let image = dir.crash_with_seed(seed).file_bytes("seg").unwrap();
            prop_assert_eq!(image.len(), FILE_LEN);
            for (i, &byte) in image.iter().enumerate() {
                let covers = |&(offset, len, fill): &(usize, usize, u8)| {
                    (offset..offset + len).contains(&i) && byte == fill
                };
                let allowed = byte == durable[i] || byte == 0 || pending.iter().any(covers);
                prop_assert!(allowed, "seed {}: byte {} at {}", seed, byte, i);
            }
        }
    }

    #[test]
    fn directories_survive_as_a_prefix(
        ops in proptest::collection::vec(dir_op(), 1..24),
        seeds in proptest::collection::vec(any::<u64>(), 4),
    ) {
        let dir = SimDir::new();
        // Each file holds its creation number, so a crash image shows which file a name reaches.
        let mut created = 0u8;
        let mut durable: BTreeMap<String, u8> = BTreeMap::new();
        let mut prefixes = vec![durable.clone()];
        for op in &ops {
            let mut live = prefixes.last().unwrap().clone();
            let changed = match *op {
                DirOp::Create(name) => {
                    let ok = dir.write_new(NAMES[name], &[created]).is_ok();
                    prop_assert_eq!(ok, !live.contains_key(NAMES[name]));
                    if ok {
                        live.insert(NAMES[name].to_owned(), created);
                        created += 1;
                    }
                    ok
                }
                DirOp::Rename(from, to) => {
                    let ok = dir.rename(NAMES[from], NAMES[to]).is_ok();
                    prop_assert_eq!(ok, live.contains_key(NAMES[from]));
                    if ok && from != to {
                        let id = live.remove(NAMES[from]).unwrap();
                        live.insert(NAMES[to].to_owned(), id);
                    }
                    ok && from != to
                }
                DirOp::Remove(name) => {
                    let ok = dir.remove(NAMES[name]).is_ok();
                    prop_assert_eq!(ok, live.remove(NAMES[name]).is_some());
                    ok
                }
                DirOp::SyncDir => {
                    dir.sync_dir().unwrap();
                    durable = prefixes.last().unwrap().clone();
                    prefixes = vec![durable.clone()];
                    false
                }
            };
            if changed {
                prefixes.push(live);
            }
        }
        let contents = |image: &SimDir| -> BTreeMap<String, u8> {
            image
                .list()
                .unwrap()
                .into_iter()
                .map(|name| {
                    let bytes = image.read(&name).unwrap();
                    (name, bytes[0])
                })
                .collect()
        };
        prop_assert_eq!(&contents(&dir), prefixes.last().unwrap());
        prop_assert_eq!(&contents(&dir.crash_clean()), &durable);
        prop_assert_eq!(&contents(&dir.crash_keep_all()), prefixes.last().unwrap());
        for seed in seeds {
            let image = contents(&dir.crash_with_seed(seed));
            prop_assert!(prefixes.contains(&image), "seed {}: {:?}", seed, image);
        }
    }
}
