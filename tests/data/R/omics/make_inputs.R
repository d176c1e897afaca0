# Build the real-data test inputs of the omics arm from Debian's Bioconductor data packages.
#  * ALL (r-bioc-all, Artistic-2.0): Chiaretti et al., Blood 2004 - RMA log2 hgu95av2 arrays of
#    acute lymphoblastic leukaemia.  Kept: B-lineage BCR/ABL vs NEG samples with known sex,
#    2,000 probes (the 1,500 most variable + 500 others, seed 1), values rounded to 4 decimals.
#  * decoupleR bk_data (r-bioc-decoupler, GPL-3): log-normalised RNA-seq of PANC1 wild type vs
#    FOXA2 knock-out, 3 + 3 samples, gene symbols (Badia-i-Mompel et al., Bioinform Adv 2022).
#    Kept: complete genes in Hallmark v7.0 / ESTIMATE / IPS gene lists plus 1,500 others (seed 1).
#  * a CIBERSORT-style signature (4 "cell types" = mean linear-scale profiles of ALL subtypes
#    B1, B2, T2, T3 over the 300 most variable probes) and mixtures (12 ALL samples of other
#    subtypes, linear scale).
# Usage: Rscript make_inputs.R [R library holding ALL and decoupleR]   (run in this folder)
args <- commandArgs(trailingOnly = TRUE)
lib <- if (length(args)) args[1] else .libPaths()[1]
suppressPackageStartupMessages(library(Biobase))
set.seed(1)
load(file.path(lib, "ALL", "data", "ALL.rda"))
keep <- grepl("^B", ALL$BT) & ALL$mol.biol %in% c("BCR/ABL", "NEG") & !is.na(ALL$sex)
e <- exprs(ALL)[, keep]
v <- apply(e, 1, var)
top <- order(v, decreasing = TRUE)[1:1500]
other <- sample(setdiff(seq_len(nrow(e)), top), 500)
e <- round(e[sort(c(top, other)), ], 4)
samples <- data.frame(sample = colnames(e), group = ifelse(ALL$mol.biol[keep] == "BCR/ABL", "BCRABL", "NEG"),
                      sex = as.character(ALL$sex[keep]))
write.csv(samples, "all_samples.csv", row.names = FALSE)
con <- gzfile("all_expr.csv.gz", "w"); write.csv(e, con); close(con)

# signature + mixtures for deconvolution (linear scale)
ex <- exprs(ALL)
vv <- apply(ex, 1, var)
sig_probes <- names(sort(vv, decreasing = TRUE))[1:300]
types <- c("B1", "B2", "T2", "T3")
sig <- sapply(types, function(t) rowMeans(2^ex[sig_probes, ALL$BT == t, drop = FALSE]))
sig <- round(sig, 3)
mix_idx <- which(ALL$BT %in% c("B", "B4", "T", "T4"))[1:12]
mix <- round(2^ex[sig_probes, mix_idx], 3)
write.table(data.frame(Gene = rownames(sig), sig, check.names = FALSE), "deconv_signature.txt",
            sep = "\t", quote = FALSE, row.names = FALSE)
write.csv(mix, "deconv_mixture.csv")

bk <- readRDS(file.path(lib, "decoupleR", "extdata", "bk_data.rds"))
counts <- as.data.frame(bk$counts)
rownames(counts) <- counts$gene
counts$gene <- NULL
counts <- counts[complete.cases(counts), ]   # 168 genes have NA in bk_data
read_gmt_genes <- function(f) unique(unlist(lapply(strsplit(readLines(f), "\t"), function(x) x[-(1:2)])))
sets <- c(read_gmt_genes("../../../../data_catalog/genesets/h.all.v7.0.symbols.gmt"),
          read_gmt_genes("../../../../data_catalog/signatures/estimate_SI_geneset.gmt"),
          read.delim("../../../../data_catalog/signatures/ips_genes.txt")$GENE)
ing <- rownames(counts) %in% sets
pick <- c(which(ing), sample(which(!ing), 1500))
bkx <- round(as.matrix(counts[sort(pick), ]), 4)
con <- gzfile("bk_expr.csv.gz", "w"); write.csv(bkx, con); close(con)
write.csv(as.data.frame(bk$design), "bk_samples.csv", row.names = FALSE)
cat("ALL:", dim(e), " bk:", dim(bkx), " signature:", dim(sig), " mixture:", dim(mix), "\n")
