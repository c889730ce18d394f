//! The Cinder ML library: each algorithm a driver-side loop plus worker-side kernels over
//! cached partitions. Algorithms arrive with the datasets layer (see ARCHITECTURE.md).
