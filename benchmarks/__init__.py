"""lowmem benchmarks: graph zoo, runner and the Theano baseline."""
