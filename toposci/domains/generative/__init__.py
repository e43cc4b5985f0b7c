"""The built-in domains' plug-ins for the generative models (one :class:`GenerativeDomain`
subclass each; see :mod:`toposci.domains.base`). Import the one you need; recipes name them by
``domain:`` (:data:`~toposci.domains.base.DOMAINS`)."""
