//! GFlowNets on discrete environments: the environments (hypergrid with the standard and
//! deceptive rewards, the prepend/append sequence MDP, an Ising lattice), exact enumeration
//! and metrics, masked-softmax policies, TB/DB/SubTB losses with hand-written gradients, the
//! training loop and discrete Reinforced SMC.
//!
//! References: Bengio et al. 2021 (GFlowNets, hypergrid); Malkin et al. 2022 (TB);
//! Madan et al. 2023 (SubTB); Kim et al. 2025 (adaptive teachers, `teachers-and-vgs.md`
//! part A); Choi et al. 2025 (Reinforced SMC, `rsmc.md` §1.2–1.4 and §3).

mod batch;
pub mod env;
pub mod exact;
pub mod grid;
pub mod ising;
pub mod loss;
pub mod policy;
mod replay;
pub mod rsmc;
mod score;
pub mod sequence;
pub mod train;

pub use env::DiscreteEnv;

#[cfg(test)]
mod tests {
    extern crate std;
    use super::env::{DiscreteEnv, count_legal};
    use super::*;
    use crate::rng::{self, Rng};
    use std::vec;

    /// Random forward walks: every legal action has exactly one matching backward action,
    /// which is legal at the child and leads back to the parent; the walk stops within
    /// `max_steps`, at a terminal state whose index round-trips.
    fn check_dag<E: DiscreteEnv>(env: &E, seed: u64) {
        let mut r = rng::seeded(seed);
        let mut s = vec![0u32; env.state_len()];
        let mut fm = vec![false; env.n_actions()];
        let mut bm = vec![false; env.n_back_actions()];
        for _ in 0..50 {
            env.reset(&mut s);
            env.backward_mask(&s, &mut bm);
            assert_eq!(count_legal(&bm), 0);
            let mut steps = 0;
            while !env.is_done(&s) {
                env.forward_mask(&s, &mut fm);
                let legal: std::vec::Vec<usize> = (0..fm.len()).filter(|&a| fm[a]).collect();
                assert!(!legal.is_empty());
                let a = legal[(r.next_u32() as usize) % legal.len()];
                let parent = s.clone();
                env.step(&mut s, a);
                let b = env.back_action_of(&parent, a);
                env.backward_mask(&s, &mut bm);
                assert!(bm[b]);
                assert_eq!(env.forward_action_of(&s, b), a);
                let mut back = s.clone();
                env.step_back(&mut back, b);
                assert_eq!(back, parent);
                steps += 1;
                assert!(steps <= env.max_steps());
            }
            let i = env.terminal_index(&s);
            let mut t = vec![0u32; env.state_len()];
            env.terminal_from_index(i, &mut t);
            assert_eq!(t, s);
        }
    }

    #[test]
    fn every_environment_is_a_consistent_dag() {
        check_dag(
            &grid::Hypergrid::new(3, 5, grid::GridReward::Deceptive).unwrap(),
            1,
        );
        check_dag(
            &sequence::SequenceEnv::new(sequence::SequenceConfig::default()).unwrap(),
            2,
        );
        let small = sequence::SequenceConfig {
            len: 3,
            alphabet: 2,
            modes: 1,
            ..Default::default()
        };
        check_dag(&sequence::SequenceEnv::new(small).unwrap(), 3);
        check_dag(&ising::Ising::new(3, 0.2, 0.1).unwrap(), 4);
    }
}
