//! Gas of one verifier step per instruction class, measured in revm.
