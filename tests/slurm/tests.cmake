# Slurm: jobs/slurm/demo.sbatch submitted with sbatch to a real single-node Slurm cluster
# (munged + slurmctld + slurmd started in a private /tmp directory and always stopped again).
# Needs root (installs slurm-wlm and munge when missing); otherwise it is reported as skipped.
add_test(NAME slurm_demo_job
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/slurm_test.sh $<TARGET_FILE:neurolens>
                 ${PROJECT_SOURCE_DIR})
set_tests_properties(slurm_demo_job PROPERTIES LABELS "slurm" TIMEOUT 300 RUN_SERIAL TRUE
                     SKIP_RETURN_CODE 77 PROCESSORS 2)
