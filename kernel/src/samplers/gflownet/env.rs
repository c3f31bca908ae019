//! The discrete-environment abstraction: a pointed DAG of states with a stop action, masked
//! forward and backward actions, a fixed-size feature encoding and a terminal reward.
//!
//! Conventions shared by every environment (GFlowNets, Bengio et al. 2021, §3; the
//! hypergrid and sequence MDPs of `teachers-and-vgs.md` A2.1 and `rsmc.md` §3):
//! - a state is a fixed-length slice of `u32` words ([`DiscreteEnv::state_len`]) whose last
//!   word is the *done* flag (`1` once the stop action was taken);
//! - forward action `0` is **stop**: it copies the state and sets the done flag, so the
//!   terminal object `x` and its "done" copy have the same configuration;
//! - backward action `0` is **unstop**, the only backward action of a done state;
//! - every (parent, child) edge is reached by exactly one legal forward action and undone by
//!   exactly one legal backward action (duplicate actions are masked), so probabilities over
//!   actions are probabilities over children and parents;
//! - trajectories have at most [`DiscreteEnv::max_steps`] transitions, the stop included.
//!
//! Validation happens in each environment's constructor; the trait methods are infallible
//! and expect slices of the documented lengths (they use `debug_assert!` and never index
//! beyond `state_len`, `feature_len`, `n_actions` or `n_back_actions`).

/// Largest number of terminal objects an environment may have, `2^20`: every environment
/// here is exactly enumerable (exact `log Z`, exact distribution, exact TV/JSD).
pub const MAX_TERMINAL: usize = 1 << 20;

/// A discrete GFlowNet environment (see the [module docs](self) for the conventions).
pub trait DiscreteEnv {
    /// Length of a state in `u32` words, the done flag included.
    fn state_len(&self) -> usize;
    /// Length of the feature encoding of a (non-done) state.
    fn feature_len(&self) -> usize;
    /// Number of forward actions, the stop action (index `0`) included.
    fn n_actions(&self) -> usize;
    /// Number of backward actions, the unstop action (index `0`) included.
    fn n_back_actions(&self) -> usize;
    /// Largest number of transitions of a complete trajectory, the stop included.
    fn max_steps(&self) -> usize;
    /// Number of terminal objects (at most [`MAX_TERMINAL`]).
    fn n_terminal(&self) -> usize;
    /// Writes the initial state `s₀`.
    fn reset(&self, s: &mut [u32]);
    /// Whether the stop action has been taken.
    fn is_done(&self, s: &[u32]) -> bool {
        s.last().is_some_and(|&d| d == 1)
    }
    /// Writes the features of `s` (length [`feature_len`](Self::feature_len)).
    fn features(&self, s: &[u32], out: &mut [f32]);
    /// Legal forward actions at `s` (all `false` for a done state).
    fn forward_mask(&self, s: &[u32], mask: &mut [bool]);
    /// Applies the legal forward action `a`.
    fn step(&self, s: &mut [u32], a: usize);
    /// Legal backward actions at `s` (all `false` at `s₀`).
    fn backward_mask(&self, s: &[u32], mask: &mut [bool]);
    /// Applies the legal backward action `b`.
    fn step_back(&self, s: &mut [u32], b: usize);
    /// The backward action that undoes forward action `a` taken at `parent`.
    fn back_action_of(&self, parent: &[u32], a: usize) -> usize;
    /// The forward action that leads from the parent to `child` when backward action `b` is
    /// taken at `child`.
    fn forward_action_of(&self, child: &[u32], b: usize) -> usize;
    /// `log R(x)` of a terminal configuration (the done flag is ignored).
    fn log_reward(&self, s: &[u32]) -> f32;
    /// Whether the terminal configuration is one of the environment's modes.
    fn is_mode(&self, s: &[u32]) -> bool;
    /// Index of the terminal configuration in `0..n_terminal()` (a bijection).
    fn terminal_index(&self, s: &[u32]) -> usize;
    /// Writes the done terminal state with index `i` (inverse of
    /// [`terminal_index`](Self::terminal_index)).
    fn terminal_from_index(&self, i: usize, s: &mut [u32]);
}

/// Number of legal entries of a mask.
#[inline]
pub fn count_legal(mask: &[bool]) -> usize {
    mask.iter().filter(|&&m| m).count()
}

/// Largest [`DiscreteEnv::state_len`] of the environments of this crate (fixed-size scratch
/// states in the enumeration and metric helpers).
pub const MAX_STATE_LEN: usize = 32;

/// Largest [`DiscreteEnv::n_actions`] / [`DiscreteEnv::n_back_actions`] supported by the
/// policies (fixed-size masks on the stack).
pub const MAX_ACTIONS: usize = 64;
