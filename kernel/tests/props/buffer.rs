//! `buffer::ReplayBuffer`: insert and sample at any capacity and fill level.

use amortise_kernel::Error;
use amortise_kernel::buffer::{Priority, ReplayBuffer};
use proptest::prelude::*;

use super::{CASES, config, log_weight};

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        (1e-4f64..=1.0).prop_map(|t| Priority::ImportanceWeight { target_ess: t }),
        prop_oneof![
            1e-3f64..10.0,
            Just(f64::MIN_POSITIVE),
            Just(1e-300),
            Just(1e300),
            Just(f64::MAX)
        ]
        .prop_map(|k| Priority::RewardRank { rank_weight: k }),
        Just(Priority::Uniform),
    ]
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn ring_keeps_the_newest_entries_and_samples_stored_slots(
        capacity in 1usize..24,
        dim in 1usize..4,
        batches in prop::collection::vec(prop::collection::vec((log_weight(), log_weight()), 0..40), 0..6),
        priority in priority(),
        draws in 0usize..50,
        u in prop::collection::vec(0.0f64..1.0, 50),
    ) {
        let mut states = vec![0.0f32; capacity * dim];
        let (mut lw_store, mut lr_store) = (vec![0.0f32; capacity], vec![0.0f32; capacity]);
        let mut buf = ReplayBuffer::new(dim, &mut states, &mut lw_store, &mut lr_store).unwrap();
        // every inserted row is tagged by a unique id in all its coordinates
        let mut all: Vec<(f32, f32, f32)> = Vec::new();
        for batch in &batches {
            let n = batch.len();
            let xs: Vec<f32> = (0..n).flat_map(|i| std::iter::repeat_n((all.len() + i) as f32, dim)).collect();
            let lw: Vec<f32> = batch.iter().map(|p| p.0).collect();
            let lr: Vec<f32> = batch.iter().map(|p| p.1).collect();
            buf.insert(&xs, &lw, &lr).unwrap();
            for &(w, r) in batch {
                all.push((all.len() as f32, w, r));
            }
        }
        let total = all.len();
        prop_assert_eq!(buf.inserted(), total as u64);
        prop_assert_eq!(buf.len(), total.min(capacity));
        // the stored ids are exactly the newest `len` ids
        let mut stored: Vec<u32> = (0..buf.len()).map(|s| buf.state(s).unwrap()[0] as u32).collect();
        stored.sort_unstable();
        let newest: Vec<u32> = (total - buf.len()..total).map(|i| i as u32).collect();
        prop_assert_eq!(&stored, &newest);
        for s in 0..buf.len() {
            let row = buf.state(s).unwrap();
            let id = row[0] as usize;
            prop_assert!(row.iter().all(|&v| v == row[0]));
            let (_, w, r) = all[id];
            let clean = |x: f32| if x.is_nan() { f32::NEG_INFINITY } else { x };
            prop_assert_eq!(buf.log_weights()[s].to_bits(), clean(w).to_bits());
            prop_assert_eq!(buf.log_rewards()[s].to_bits(), clean(r).to_bits());
        }
        if let Some(s) = buf.newest_slot() {
            prop_assert_eq!(buf.state(s).unwrap()[0] as usize, total - 1);
        }
        prop_assert!(buf.state(buf.len()).is_none());

        let n = buf.len();
        let mut weights = vec![0.0f32; ReplayBuffer::scratch_len(capacity)];
        let mut order = vec![0u32; ReplayBuffer::scratch_len(capacity)];
        let mut out = vec![u32::MAX; draws];
        let stored_w = buf.log_weights().to_vec();
        match buf.sample(priority, &u, &mut weights, &mut order, &mut out) {
            Ok(info) => {
                prop_assert_eq!(info.len, n);
                prop_assert!(info.lambda > 0.0 && info.lambda <= 1.0);
                prop_assert!(info.ess_fraction.is_finite() && info.ess_fraction >= 0.0 && info.ess_fraction <= 1.0 + 1e-9);
                for &slot in &out {
                    prop_assert!((slot as usize) < n, "slot {slot} of {n}");
                    if let Priority::ImportanceWeight { .. } = priority {
                        prop_assert!(stored_w[slot as usize] > f32::NEG_INFINITY, "drew a zero-weight slot");
                    }
                }
            }
            Err(Error::Degenerate(_)) => prop_assert!(
                n == 0 || (matches!(priority, Priority::ImportanceWeight { .. }) && stored_w.iter().all(|&w| w == f32::NEG_INFINITY)),
                "Degenerate with {n} entries under {priority:?}"
            ),
            Err(Error::NonFinite(_)) => prop_assert!(
                matches!(priority, Priority::ImportanceWeight { .. }) && stored_w.contains(&f32::INFINITY),
                "NonFinite under {priority:?}"
            ),
            Err(e) => prop_assert!(false, "unexpected error {e:?} under {priority:?}"),
        }
    }

    #[test]
    fn non_finite_states_and_bad_shapes_insert_nothing(
        capacity in 1usize..8,
        dim in 1usize..4,
        n in 1usize..6,
        bad in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
        at in 0usize..24,
        short in 1usize..3,
    ) {
        let mut states = vec![0.0f32; capacity * dim];
        let (mut lw_store, mut lr_store) = (vec![0.0f32; capacity], vec![0.0f32; capacity]);
        let mut buf = ReplayBuffer::new(dim, &mut states, &mut lw_store, &mut lr_store).unwrap();
        let mut xs = vec![1.0f32; n * dim];
        let i = at % xs.len();
        xs[i] = bad;
        prop_assert!(matches!(buf.insert(&xs, &vec![0.0; n], &vec![0.0; n]), Err(Error::NonFinite(_))), "wrong outcome");
        prop_assert_eq!(buf.len(), 0);
        prop_assert_eq!(buf.inserted(), 0);
        let xs = vec![1.0f32; n * dim - short.min(n * dim)];
        if xs.len() != n * dim {
            prop_assert!(matches!(buf.insert(&xs, &vec![0.0; n], &vec![0.0; n]), Err(Error::ShapeMismatch { .. })), "wrong outcome");
        }
        prop_assert!(matches!(buf.insert(&vec![1.0; n * dim], &vec![0.0; n], &vec![0.0; n + 1]), Err(Error::ShapeMismatch { .. })), "wrong outcome");
        prop_assert_eq!(buf.len(), 0);
        // short scratch is a typed error, not a panic
        buf.insert(&vec![1.0; n * dim], &vec![0.0; n], &vec![0.0; n]).unwrap();
        let mut out = [0u32; 3];
        let r = buf.sample(Priority::default(), &[0.5], &mut [], &mut [], &mut out);
        prop_assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "wrong outcome");
    }

    #[test]
    fn zero_capacity_or_dim_is_invalid_config(capacity in 0usize..3, dim in 0usize..3) {
        let mut states = vec![0.0f32; capacity * dim];
        let (mut lw, mut lr) = (vec![0.0f32; capacity], vec![0.0f32; capacity]);
        let r = ReplayBuffer::new(dim, &mut states, &mut lw, &mut lr);
        if capacity == 0 || dim == 0 {
            prop_assert!(matches!(r, Err(Error::InvalidConfig(_))), "wrong outcome");
        } else {
            prop_assert!(r.is_ok());
        }
    }
}
