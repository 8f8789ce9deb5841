# Stage 2, score ensembles: balanced masks, then members trained in jobs of shard_size members.


# Blocks of the mask depend on (seed, block index, rate, block size) and N only, never on K: raising K
# appends blocks. Member jobs draw their own block's rows the same way (memgen.ensemble.masks.block), so they do
# not wait on this rule, and a K x N mask is written once per ensemble for the scores and analyses.
rule masks:
    input:
        paths.INDEX,
    output:
        paths.MASKS,
    log:
        paths.LOG_MASKS,
    benchmark:
        paths.benchmark_of(paths.LOG_MASKS)
    conda:
        "../envs/memgen.yaml"
    params:
        masks=mask_params,
        members=ensemble_size,
    script:
        "../workflow_scripts/masks.py"


# Member k = b * block_size + s lives in members/{b}/{s}/ whatever the job size: one rule per slice
# [first, first + shard_size) of a block trains those slots of any block. Changing shard_size renames rules,
# never files, and params hold no slice, so it retrains nothing (Snakemake's rerun triggers look at files,
# params, inputs and code, not rule names). The SLURM profile's `members` resources apply to every slice
# (memgen.workflow.share_profile_resources). Each member's checkpoint.pt is written beside its outputs.npz,
# before it, and is not a declared output: at paper scale x10 that halves the files Snakemake plans with
# (benchmarks/dryrun_paper.py --scale 10). One job per member would cost start-up and planning time
# (docs/decisions.md: Member jobs and shards).
for first in SLICES:

    rule:
        name:
            f"members_{first}"
        input:
            index=paths.INDEX,
            canaries=paths.CANARIES,
        output:
            outputs=paths.member_slice(first, SHARD),
        log:
            fill(paths.LOG_MEMBERS, first=first),
        benchmark:
            paths.benchmark_of(fill(paths.LOG_MEMBERS, first=first))
        conda:
            "../envs/memgen.yaml"
        threads: 1  # one torch thread per job, jobs side by side: benchmarks/threads.py
        params:
            member=member_params,
        script:
            "../workflow_scripts/members.py"


# The duplicate list: a published one (ciFAIR) as it is, or detected in trained members' features, so after
# the ensemble (memgen/ensemble/duplicate_jobs.py).
rule duplicates:
    input:
        unpack(duplicates_source),
    output:
        paths.DUPLICATES,
    log:
        paths.LOG_DUPLICATES,
    benchmark:
        paths.benchmark_of(paths.LOG_DUPLICATES)
    conda:
        "../envs/memgen.yaml"
    params:
        dataset=duplicates_params,
    script:
        "../workflow_scripts/duplicates.py"
