"""Execution: how the analysis uses the machine, kept apart from what it computes.

Everything that forks processes, shares memory between them, reads the CPU limit or tunes an allocator
lives here and nowhere else in :mod:`analyzer` (``tests/test_layers.py`` holds that line):

- :mod:`~analyzer.runtime.cpus`: the CPUs this process may use (affinity and the container's CPU limit);
- :mod:`~analyzer.runtime.partitions`: a large analysis a partition at a time, on
  :mod:`~analyzer.runtime.forked_map` (jobs by this process and forked ones, results pickled back);
- :mod:`~analyzer.runtime.forked_columns`: a column-wise computation split over forked processes that
  write their columns into shared memory (the HPA replay of a large snapshot);
- :mod:`~analyzer.runtime.forked_calls`: independent calls shared with forked processes (the report's figures);
- :mod:`~analyzer.runtime.isolated_map`: calls in fresh processes, one each (the generator's batches);
- :mod:`~analyzer.runtime.compiled_seed`: the HPA controller compiled in an image, copied into a run's cache;
- :mod:`~analyzer.runtime.memory` and :mod:`~analyzer.runtime.allocator`: what becomes of freed memory.

Importing :mod:`analyzer` changes nothing process-wide: the command line applies the allocator policy
(:func:`~analyzer.runtime.allocator.keep_arrow_pages`) before anything loads pyarrow; a notebook may
call it first thing, before importing pandas or pyarrow.
"""
