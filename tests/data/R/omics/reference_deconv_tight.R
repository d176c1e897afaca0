# e1071 nu-SVR references at a tight tolerance (1e-9 instead of libsvm's default 1e-3), where
# libsvm's SMO converges to the exact optimum that radiogenomics.omics.nusvr solves in the primal.
# Same inputs and CIBERSORT-style core (deconv_e1071.R) as the e1071 part of reference.R.
# Run in this folder:
#   Rscript reference_deconv_tight.R
# Writes ref_deconv_tight.csv (the deconvolution output) and ref_nusvr_tight.csv (the raw fit of
# every sample and nu: weights before clipping, intercept = -rho).
source("deconv_e1071.R")
res <- deconv_e1071("deconv_signature.txt", "deconv_mixture.csv", tolerance = 1e-9)
write.csv(res$out, "ref_deconv_tight.csv", row.names = FALSE)
write.csv(res$raw, "ref_nusvr_tight.csv", row.names = FALSE)
