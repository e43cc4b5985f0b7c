"""Throughput of ``toposci summarize`` against GUDHI called one sample at a time: see
``_summarize_bench.py`` for what is measured.

This entry point imports nothing at module level: the summary's worker processes are spawned, and
a spawned process imports the parent's main script again, so a script that imported torch here
would make every worker pay for torch, which ``toposci summarize`` itself does not.
"""

if __name__ == "__main__":
    from _summarize_bench import main

    main()
