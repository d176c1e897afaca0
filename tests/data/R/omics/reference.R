# Reference results of the omics arm (R limma, GSVA ssgsea, e1071 nu-SVR) on the inputs
# written by make_inputs.R.  Run in this folder: Rscript reference.R
# Debian packages: r-bioc-limma, r-bioc-gsva, r-cran-e1071.
suppressPackageStartupMessages({library(limma); library(GSVA); library(e1071)})
wr <- function(x, f) write.csv(x, f, na = "NA")
sink("versions.txt"); cat("R", R.version$major, R.version$minor, " limma", as.character(packageVersion("limma")),
  " GSVA", as.character(packageVersion("GSVA")), " e1071", as.character(packageVersion("e1071")), "\n"); sink()

## limma: BCR/ABL vs NEG on ALL (plain, with a sex covariate, and with 2% missing values)
e <- as.matrix(read.csv("all_expr.csv.gz", row.names = 1, check.names = FALSE))
s <- read.csv("all_samples.csv")
grp <- factor(s$group, levels = c("BCRABL", "NEG"))
tt <- function(y, design) {
  fit <- lmFit(y, design)
  fit <- eBayes(contrasts.fit(fit, makeContrasts(BCRABL - NEG, levels = design)))
  topTable(fit, number = Inf, sort.by = "none")[, c("logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B")]
}
d1 <- model.matrix(~ 0 + grp); colnames(d1) <- levels(grp)
wr(tt(e, d1), "ref_limma_all.csv")
d2 <- model.matrix(~ 0 + grp + s$sex); colnames(d2) <- c(levels(grp), "sexM")
wr(tt(e, d2), "ref_limma_all_sex.csv")
set.seed(2)
ena <- e
ena[sample(length(ena), round(0.02 * length(ena)))] <- NA
ena[5, ] <- NA                       # an all-missing gene
ena[6, grp == "NEG"] <- NA           # a gene observed in one group only
con <- gzfile("all_expr_na.csv.gz", "w"); write.csv(ena, con, na = "NA"); close(con)
wr(tt(ena, d1), "ref_limma_all_na.csv")

## limma with 3 vs 3 samples (decoupleR bk_data): FOXA2 KO vs WT
bk <- as.matrix(read.csv("bk_expr.csv.gz", row.names = 1, check.names = FALSE))
bs <- read.csv("bk_samples.csv")
g2 <- factor(ifelse(grepl("KO", bs$condition), "KO", "WT"), levels = c("KO", "WT"))
d3 <- model.matrix(~ 0 + g2); colnames(d3) <- levels(g2)
fit <- eBayes(contrasts.fit(lmFit(bk, d3), makeContrasts(KO - WT, levels = d3)))
wr(topTable(fit, number = Inf, sort.by = "none")[, c("logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B")],
   "ref_limma_bk.csv")

## GSVA ssgsea
read_gmt <- function(f) { l <- strsplit(readLines(f), "\t"); setNames(lapply(l, function(x) unique(x[-(1:2)])), sapply(l, `[`, 1)) }
hall <- read_gmt("../../../../data_catalog/genesets/h.all.v7.0.symbols.gmt")
est <- read_gmt("../../../../data_catalog/signatures/estimate_SI_geneset.gmt")
gs <- function(x, sets, norm) gsva(x, sets, method = "ssgsea", tau = 0.25, ssgsea.norm = norm, verbose = FALSE)
wr(gs(bk, hall, FALSE), "ref_ssgsea_bk_hallmark.csv")
wr(gs(bk, hall, TRUE), "ref_ssgsea_bk_hallmark_norm.csv")
wr(gs(bk, est, FALSE), "ref_ssgsea_bk_estimate.csv")
# ties: ALL rounded to one decimal, probe sets drawn at random (sizes 5..150, seed 3)
set.seed(3)
er <- round(e, 1)
con <- gzfile("all_expr_ties.csv.gz", "w"); write.csv(er, con); close(con)
probe_sets <- lapply(1:25, function(i) sample(rownames(er), sample(5:150, 1)))
names(probe_sets) <- sprintf("SET%02d", 1:25)
writeLines(sapply(names(probe_sets), function(n) paste(c(n, "random probes", probe_sets[[n]]), collapse = "\t")),
           "all_probe_sets.gmt")
wr(gs(er, probe_sets, FALSE), "ref_ssgsea_all_ties.csv")

## e1071 nu-SVR, CIBERSORT-style core (linear kernel, nu 0.25/0.5/0.75, best by RMSE; deconv_e1071.R)
source("deconv_e1071.R")
write.csv(deconv_e1071("deconv_signature.txt", "deconv_mixture.csv")$out, "ref_deconv.csv", row.names = FALSE)
