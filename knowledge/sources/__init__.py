"""Sources: places Threadwise keeps a collection in step with (a website, a repository, a wiki), synced on demand
or on a schedule. ``protocol`` is what a connector gives, ``sync`` what the engine does with it."""
