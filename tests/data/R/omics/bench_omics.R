# R side of tests/benchmarks/test_bench_omics.py: times limma, GSVA ssgsea, an e1071
# CIBERSORT-style core and DESeq2 on the files the benchmark writes.  Prints "step seconds" lines.
# Usage: Rscript bench_omics.R DIR HALLMARK_GMT
args <- commandArgs(TRUE); dir <- args[1]
suppressPackageStartupMessages({library(limma); library(GSVA); library(e1071); library(DESeq2)})
tm <- function(name, expr) { t0 <- proc.time()[["elapsed"]]; force(expr); cat("RGTIME", name, proc.time()[["elapsed"]] - t0, "\n") }
x <- as.matrix(read.csv(file.path(dir, "logexpr.csv"), row.names = 1, check.names = FALSE))
grp <- factor(read.csv(file.path(dir, "groups.csv"))$grp, levels = c("high", "low"))
tm("limma", {
  d <- model.matrix(~ 0 + grp); colnames(d) <- levels(grp)
  fit <- eBayes(contrasts.fit(lmFit(x, d), makeContrasts(high - low, levels = d)))
  tt <- topTable(fit, number = Inf, sort.by = "none")
})
l <- strsplit(readLines(args[2]), "\t"); sets <- setNames(lapply(l, function(v) unique(v[-(1:2)])), sapply(l, `[`, 1))
tm("ssgsea", s <- gsva(x, sets, method = "ssgsea", tau = 0.25, ssgsea.norm = FALSE, verbose = FALSE))
sig <- as.matrix(read.delim(file.path(dir, "signature.txt"), row.names = 1, check.names = FALSE))
mix <- as.matrix(read.csv(file.path(dir, "mixture.csv"), row.names = 1, check.names = FALSE))
tm("deconvolution", {
  X <- (sig - mean(sig)) / sd(as.vector(sig))
  for (j in seq_len(ncol(mix))) {
    y <- mix[rownames(X), j]; y <- (y - mean(y)) / sd(y)
    for (nu in c(0.25, 0.5, 0.75)) {
      m <- svm(X, y, type = "nu-regression", kernel = "linear", nu = nu, scale = FALSE)
      w <- as.vector(t(m$coefs) %*% m$SV)
    }
  }
})
counts <- as.matrix(read.csv(file.path(dir, "counts.csv"), row.names = 1, check.names = FALSE))
tm("deseq2", {
  dds <- DESeqDataSetFromMatrix(counts, data.frame(group = grp), ~ group)
  dds <- DESeq(dds, quiet = TRUE)
  r <- results(dds, contrast = c("group", "high", "low"))
})
