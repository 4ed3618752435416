//! The shared loopback suite (every model, every operation, the faults) on smol.

flashforge_conformance::suite!(flashforge_smol, smol::block_on);
