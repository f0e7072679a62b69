"""Supply-chain security: verified signatures enforced at pull, SBOMs, vulnerability
scanning against an offline database, and pull policies on the results.

    model.py          the values every part shares (packages, findings, severities)
    policy.py         the per-project policy document (signatures, vulnerabilities, SBOMs)
    signatures/       cosign (tag form and Sigstore bundle) and notation verification
    sbom/             layers read streaming, package extractors, CycloneDX / SPDX
    vulndb/           OSV import, each ecosystem's version ordering, the matcher
    adapter/         a client of Harbor's Pluggable Scanner Adapter API
    store.py          the capability's tables: policies, SBOM index, scan reports
    enforce.py        the pull policies (cached verdicts per digest)
    service.py        SupplyChainService: what the API, the CLI and the jobs call
    capability.py     what the package contributes through the capability seam
"""
