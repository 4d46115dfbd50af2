"""An example storage server that pays its uploaders through bitcache.hooks."""
