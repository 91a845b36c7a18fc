# Reference trees from R's mclust hc() for tests/test_hierarchical.py.
#
# Run from the repository root (needs R, mclust and jsonlite; on Debian: apt-get install
# r-base-core r-cran-mclust r-cran-jsonlite):
#
#     Rscript tests/data/mclust/make_hc_reference.R
#
# It writes tests/data/mclust/hc_reference.json; CI needs neither R nor mclust (the file is
# committed). Data: Old Faithful from gmm_core/datasets/faithful.csv (R's `faithful`) and
# iris from tests/data/mclust/iris.csv (written by make_reference.R).
#
# Two synthetic data sets full of exact ties are generated here (set.seed(15)) and stored in the
# JSON itself (`data`: name -> rows), since ties are where an implementation can part from mclust:
# `lattice`, 600 x 4 rounded to 0.1, and `duplicates`, 400 x 3 rounded to integers (most rows
# repeated).
#
# For each data set and each (modelName, use) below it records
#   merges:     t(hc(X, modelName, use)), the (n - 1) x 2 merge matrix (1-based, mclust's
#               naming: a cluster is named by its smallest member);
#   partitions: hclass(tree, 1:9) as a 9 x n matrix, row G = the partition into G clusters;
# and the mclust version and its default hc options (hcModelName, hcUse, subset).

suppressPackageStartupMessages({
  library(mclust)
  library(jsonlite)
})

out_dir <- file.path("tests", "data", "mclust")
datasets <- list(
  faithful = as.matrix(read.csv(file.path("gmm_core", "datasets", "faithful.csv"))),
  iris = as.matrix(read.csv(file.path(out_dir, "iris.csv")))
)
set.seed(15)
lattice <- round(matrix(rnorm(600 * 4), 600, 4) %*% diag(c(1, 2, 0.5, 3)), 1)
lattice[1:300, 1] <- lattice[1:300, 1] + 3
# round() can land an ulp away from the double nearest to the decimal, which is what the JSON
# (and Python reading it) gives back: take the decimal's double, so both sides see the same bits.
lattice <- matrix(as.numeric(sprintf("%.1f", lattice)), nrow(lattice))
duplicates <- round(matrix(rnorm(400 * 3), 400, 3))
datasets$lattice <- lattice
datasets$duplicates <- duplicates
synthetic <- c("lattice", "duplicates")
configs <- list(
  c("VVV", "SVD"), c("VVV", "VARS"), c("EII", "SVD"), c("EII", "VARS"),
  c("VVV", "STD"), c("VVV", "PCR"), c("VVV", "PCS"), c("VVV", "SPH")
)

trees <- list()
for (name in names(datasets)) {
  X <- datasets[[name]]
  dimnames(X) <- NULL
  # the synthetic sets with mclust's default and the plain transformations only
  use_configs <- if (name %in% synthetic) configs[1:5] else configs
  for (cfg in use_configs) {
    tree <- hc(X, modelName = cfg[1], use = cfg[2])
    parts <- hclass(tree, 1:9)
    trees[[length(trees) + 1]] <- list(
      data = name, model = cfg[1], use = cfg[2],
      merges = unname(t(tree[, , drop = FALSE])),
      partitions = unname(t(parts))
    )
  }
}

out <- list(
  data = lapply(datasets[synthetic], unname),
  mclust_version = as.character(packageVersion("mclust")),
  options = list(
    hcModelName = mclust.options("hcModelName"),
    hcUse = mclust.options("hcUse"),
    subset = mclust.options("subset")
  ),
  trees = trees
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, matrix = "rowmajor"),
           file.path(out_dir, "hc_reference.json"))
