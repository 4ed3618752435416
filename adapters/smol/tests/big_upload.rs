//! 1 GiB through the smol adapter with flat memory (its own process).

flashforge_conformance::big_upload!(flashforge_smol, smol::block_on);
